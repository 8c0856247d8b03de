export interface VerbOptions {
  replicas?: string;
  target?: string;
  /** disconnect: only this network of the target (compose's `<project>_<name>` or the full name) */
  network?: string;
  json?: boolean;
  volumes?: boolean;
  /** The Redis topology for `up`: single | cluster | sentinel. */
  redis?: string;
  /** `up`: on gives the replicas the admin UI with a password of the project's (make up's default); off or absent, none. */
  'admin-ui'?: string;
}

/** A verb returns the exit code (undefined means 0) or throws a StackError. */
export type Verb = (opts: VerbOptions) => Promise<number | void>;
