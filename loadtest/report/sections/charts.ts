// The charts rendered for this run, as images (the PNGs; the SVGs sit next to them).
import type { Report } from '../types';

export function chartsSection(report: Report): string[] {
  if (!report.charts?.length) return [];
  return ['## Charts', '', ...report.charts.filter((file) => file.endsWith('.png')).flatMap((file) => [`![${file}](${file})`, ''])];
}
