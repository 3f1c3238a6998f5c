// The logger is the kit's own, declared once for every package.
export type { Logger } from '@bancada/internal';
