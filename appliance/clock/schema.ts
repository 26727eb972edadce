import { Type, type Static } from '@sinclair/typebox';

export const ClockSchema = Type.Object(
  {
    timezone: Type.String({ default: 'UTC', pattern: '^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$', description: 'IANA time zone, e.g. UTC or Europe/Berlin' }),
  },
  { additionalProperties: false, description: 'Clock and time zone' },
);
export type ClockConfig = Static<typeof ClockSchema>;
