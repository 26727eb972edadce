import { Type, type Static } from '@sinclair/typebox';

export const WebuiSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 8443, description: 'HTTPS port of System Manager' }),
  },
  { additionalProperties: false, description: 'System Manager' },
);
export type WebuiConfig = Static<typeof WebuiSchema>;
