import { Type, type Static } from '@sinclair/typebox';

export const UserSchema = Type.Object(
  {
    name: Type.String({ format: 'user-name', description: 'User ID (case sensitive); not root or ha_admin' }),
    passwordHash: Type.String({ format: 'password-hash', description: 'scrypt hash of the password; the password itself is never stored' }),
    passwordChangedAt: Type.String({ format: 'date-time', description: 'Last password change (a password changes at most once per 24 h)' }),
    role: Type.Union([Type.Literal('admin'), Type.Literal('operator')], { description: 'admin: full access; operator: read only' }),
  },
  { additionalProperties: false },
);

export const UsersSchema = Type.Object(
  {
    enableSecretHash: Type.String({ format: 'password-hash', description: 'scrypt hash of the enable secret (privileged EXEC and configuration modes)' }),
    local: Type.Array(UserSchema, { minItems: 1, description: 'Local users; the first is the administrator made by the wizard' }),
  },
  { additionalProperties: false, description: 'Local users and the enable secret' },
);
export type UsersConfig = Static<typeof UsersSchema>;
export type UserConfig = Static<typeof UserSchema>;
