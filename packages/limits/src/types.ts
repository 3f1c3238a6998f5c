// The connection-gate contract and the logger are declared once, for every package.
export type {
  ConnectionGate,
  Lease,
  Logger,
  Rejection,
  RejectionReason,
} from '@bancada/internal';
export { isRejection } from '@bancada/internal';
