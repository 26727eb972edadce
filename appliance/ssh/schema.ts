import { Type, type Static } from '@sinclair/typebox';

export const SshSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Remote CLI access over SSH' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 22, description: 'TCP port of the SSH CLI' }),
    idleTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400, default: 600, description: 'An SSH session with no input for this many seconds is closed (default 600 = 10 minutes; CLI: ip ssh idle-timeout MINUTES [SECONDS])' })),
    maxSessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'Most SSH sessions open at once (default 8); more are refused with a message' })),
    banner: Type.Optional(Type.String({ format: 'display-text', description: 'Login banner shown before sign-in on the consoles and over SSH (CLI: banner login "text")' })),
  },
  { additionalProperties: false, description: 'Remote shell via SSH' },
);
export type SshConfig = Static<typeof SshSchema>;

/** Defaults for the optional SSH fields. */
export const SSH_DEFAULTS = { idleTimeoutSeconds: 600, maxSessions: 8 } as const;
