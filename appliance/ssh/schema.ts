import { Type, type Static } from '@sinclair/typebox';

export const SshSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Remote CLI access over SSH' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 22, description: 'TCP port of the SSH CLI' }),
    banner: Type.Optional(Type.String({ format: 'display-text', description: 'Login banner shown before sign-in on the consoles and over SSH (CLI: banner login "text")' })),
  },
  { additionalProperties: false, description: 'Remote shell via SSH' },
);
export type SshConfig = Static<typeof SshSchema>;
