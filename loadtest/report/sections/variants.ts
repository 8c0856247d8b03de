// The variants: the same short load on other configurations (adapter, replica
// count, transport, Redis topology), each against the stock measurement.
import type { VariantResult } from '../../harness/variants';
import { count, deliveryRatio, escapeCell, ms, tableHeader, tableRow, type Cell } from '../table';
import type { Report } from '../types';

const HEADERS = ['variant', 'target', 'replicas', 'transport', 'settings', 'connected', 'ratio', 'lost', 'p50 (ms)', 'p99 (ms)', 'deliveries/s', 'connect+join p99 (ms)', 'p99 / stock'];

/** The settings that tell variants apart: the adapter, and the Redis topology unless single. */
function settingsText(variant: VariantResult): string {
  const adapter = Object.entries(variant.env)
    .filter(([name]) => name === 'REDIS_ADAPTER')
    .map(([name, value]) => `${name}=${value}`);
  const topology = variant.redis && variant.redis !== 'single' ? [`Redis ${variant.redis}`] : [];
  return [...adapter, ...topology].join(' ') || '-';
}

function p99VsStock(variant: VariantResult): string {
  if (variant.p99VsStock !== undefined) return `${variant.p99VsStock.toFixed(2)}x (vs ${variant.comparedWith})`;
  return variant.target === 'stock' ? '-' : 'n/a';
}

/** The last cell; a failed variant's reason goes there too (the status table above has it in full). */
function lastCell(variant: VariantResult): string {
  const failed = variant.error ? ` **failed:** ${escapeCell(variant.error.slice(0, 120))}` : '';
  return p99VsStock(variant) + failed;
}

function variantCells(variant: VariantResult): Cell[] {
  return [
    variant.label,
    variant.target,
    variant.replicas,
    variant.transport,
    settingsText(variant),
    `${variant.connected}/${variant.sockets}`,
    deliveryRatio(variant.deliveryRatio),
    count(variant.lost),
    ms(variant.p50),
    ms(variant.p99),
    count(variant.deliveriesPerSec),
    ms(variant.connectJoinP99),
    lastCell(variant),
  ];
}

export function variantsSection(report: Report): string[] {
  if (!report.variants?.length) return [];
  return ['## Variants (same load on each)', '', ...tableHeader(HEADERS), ...report.variants.map((variant) => tableRow(variantCells(variant))), ''];
}
