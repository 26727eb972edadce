import { Type, type Static } from '@sinclair/typebox';

export const NtpSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Synchronise the clock with NTP servers (chrony)' }),
    servers: Type.Array(Type.String({ format: 'ntp-server' }), { maxItems: 3, description: 'NTP servers in order of preference (up to 3)' }),
  },
  { additionalProperties: false, description: 'Network time' },
);
export type NtpConfig = Static<typeof NtpSchema>;
