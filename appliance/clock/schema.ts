import { Type, type Static } from '@sinclair/typebox';

export const ClockSchema = Type.Object(
  {
    timezone: Type.String({ default: 'UTC', format: 'time-zone', description: 'IANA time zone of the zone database, e.g. UTC or Europe/Berlin' }),
  },
  { additionalProperties: false, description: 'Clock and time zone' },
);
export type ClockConfig = Static<typeof ClockSchema>;
