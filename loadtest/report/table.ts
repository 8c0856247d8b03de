// Markdown tables and the cell formats the report uses. Cells are written as
// given: a section whose text can hold `|` or a line break escapes it with
// escapeCell.

export type Cell = string | number;

/** One table row: `| a | b |`. */
export function tableRow(cells: Cell[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** The header row and the separator row; an empty header is one space wide (`| |`). */
export function tableHeader(headers: string[]): string[] {
  return [`|${headers.map((header) => (header ? ` ${header} ` : ' ')).join('|')}|`, tableRow(headers.map(() => '---'))];
}

/** A whole table as markdown lines. */
export function markdownTable(headers: string[], rows: Cell[][]): string[] {
  return [...tableHeader(headers), ...rows.map(tableRow)];
}

/** Text that stays inside its cell: pipes escaped, line breaks as spaces. */
export function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A number with a fixed count of decimals, `-` when there is none. */
export function decimals(value: number | undefined, digits = 1): string {
  return value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

/** Milliseconds (and other small measures) with two decimals, `-` when there is none. */
export function ms(value: number | undefined): string {
  return decimals(value, 2);
}

/** A delivery ratio with four decimals, `-` when there is none. */
export function deliveryRatio(value: number | undefined): string {
  return value?.toFixed(4) ?? '-';
}

/** `numerator / denominator` as `1.25x`, `-` when either is missing (or the denominator is 0). */
export function ratio(numerator?: number, denominator?: number): string {
  return numerator === undefined || !denominator ? '-' : `${(numerator / denominator).toFixed(2)}x`;
}

/** A count, `-` when there is none. */
export function count(value: number | undefined): Cell {
  return value ?? '-';
}

/** The sum of counts by kind (errors by code, ...). */
export function totalOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** Counts by kind as `timeout: 3, ECONNRESET: 1`, `0` when there are none. */
export function countsByKind(counts: Record<string, number>): string {
  return keyValues(counts) || '0';
}

/** `key: value` pairs joined by commas, empty when there are none. */
export function keyValues(values: Record<string, unknown>, separator = ': '): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}${separator}${value}`)
    .join(', ');
}
