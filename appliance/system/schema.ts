import { Type, type Static } from '@sinclair/typebox';

/** Identity of the appliance and its owner (wizard: company, contact, hostname). */
export const SystemSchema = Type.Object(
  {
    hostname: Type.String({ format: 'fqdn', description: 'External host name (FQDN) the appliance is reached by; also its certificate name' }),
    company: Type.String({ format: 'display-text', description: 'Company name, the default enterprise name in SMS and e-mail' }),
    contact: Type.String({ format: 'display-text', description: 'Contact person for Core communications' }),
    contactEmail: Type.String({ format: 'email', description: 'E-mail address of the contact person' }),
    eulaAcceptedAt: Type.String({ format: 'date-time', description: 'When the end user license agreement was accepted' }),
  },
  { additionalProperties: false, description: 'Appliance identity' },
);
export type SystemConfig = Static<typeof SystemSchema>;
