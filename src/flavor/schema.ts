import { z } from 'zod';
import { DAEMONS, DAEMON_SPECS, FEATURE_NAMES, type DaemonName, type FeatureName, type PortName } from './daemons';

const port = z.number().int().min(1).max(65535);

/** The ports a daemon has, and no other key. */
function portsFor(daemon: DaemonName): z.ZodType<Partial<Record<PortName, number>>> {
  return z.strictObject(Object.fromEntries(DAEMON_SPECS[daemon].ports.map((name) => [name, port.optional()])));
}

const safePath = z
  .string()
  .regex(/^\/[A-Za-z0-9._\/-]*$/, 'an absolute path of letters, digits, ".", "_", "-" and "/"')
  .refine((p) => !p.split('/').includes('..'), 'no ".." component')
  .refine((p) => p.length > 1, 'not "/" itself');

/** The content of flavors/<name>.json. Unknown keys are errors: a typo must not pass silently. */
export const flavorFileSchema = z.strictObject({
  description: z.string().max(200).optional(),
  daemons: z.array(z.enum(DAEMONS)).min(1).optional(),
  features: z.strictObject(Object.fromEntries(FEATURE_NAMES.map((f) => [f, z.boolean()]))).partial().optional(),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a system user name (lowercase letters, digits, "_" and "-")')
    .optional(),
  prefix: safePath.optional(),
  ports: z
    .strictObject(Object.fromEntries(DAEMONS.map((d) => [d, portsFor(d)])) as Record<DaemonName, z.ZodType<Partial<Record<PortName, number>>>>)
    .partial()
    .optional(),
});

export type FlavorFile = z.infer<typeof flavorFileSchema>;

/** A flavor after validation and defaults: everything the layout needs. */
export interface Flavor {
  name: string;
  description: string;
  /** Where it came from: a file path, or "derived from its name". */
  source: string;
  daemons: DaemonName[];
  features: Record<FeatureName, boolean>;
  user?: string;
  prefix?: string;
  /** Ports given in the file; missing ones are derived by the loader. */
  ports: Record<DaemonName, Partial<Record<PortName, number>>>;
}

export function describeSchemaError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : '(top level)';
      return `  ${where}: ${issue.message}`;
    })
    .join('\n');
}
