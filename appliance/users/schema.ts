import { Type, type Static } from '@sinclair/typebox';

/** The seed's user record fields beside the sign-in ones (Security > Local Users). */
export const USER_RECORD_FIELDS = ['firstName', 'lastName', 'email', 'edipi'] as const;

export const UserSchema = Type.Object(
  {
    name: Type.String({ format: 'user-name', description: 'User ID (case sensitive); not root or ha_admin' }),
    passwordHash: Type.String({ format: 'password-hash', description: 'scrypt hash of the password; the password itself is never stored' }),
    passwordChangedAt: Type.String({ format: 'date-time', description: 'Last password change (a password changes at most once per 24 h)' }),
    role: Type.Union([Type.Literal('admin'), Type.Literal('operator')], { description: 'admin: full access; operator: read only' }),
    firstName: Type.Optional(Type.String({ format: 'person-name', maxLength: 64, description: 'First name' })),
    lastName: Type.Optional(Type.String({ format: 'person-name', maxLength: 64, description: 'Last name' })),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 254, description: 'E-mail address; certificate sign-in can match it ($EMAIL$)' })),
    edipi: Type.Optional(Type.String({ format: 'edipi', description: 'DoD EDIPI (10 digits); certificate sign-in with CAC cards matches it ($EDIPI$)' })),
  },
  { additionalProperties: false },
);

/** Sign-in lockout over SSH and in System Manager (the serial and VGA consoles are never locked out). */
export const LockoutSchema = Type.Object(
  {
    attempts: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Failed sign-ins that lock a user name out' }),
    windowMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 15, description: 'Failures count when they fall within this many minutes' }),
    lockMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 15, description: 'How long a lockout lasts unless an administrator unlocks the user earlier' }),
  },
  { additionalProperties: false, description: 'Lockout after repeated failed sign-ins (default: 5 within 15 minutes locks for 15 minutes)' },
);
export type LockoutConfig = Static<typeof LockoutSchema>;
/** The policy when the configuration leaves it out. */
export const DEFAULT_LOCKOUT: LockoutConfig = { attempts: 5, windowMinutes: 15, lockMinutes: 15 };

/** Security > Password Policy (seed 004 defaults); the wizard, the CLI and System Manager check new passwords against it. */
export const PasswordPolicySchema = Type.Object(
  {
    minLength: Type.Integer({ minimum: 8, maximum: 128, default: 8, description: 'Fewest characters (the seed: 8; cannot go lower)' }),
    requireLetter: Type.Boolean({ default: true, description: 'At least one letter' }),
    requireUpper: Type.Boolean({ default: true, description: 'At least one capital letter' }),
    requireDigit: Type.Boolean({ default: true, description: 'At least one digit' }),
    maxRepeat: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: 'Most times one character may repeat in a row (the seed: no character 4 or more times in a row)' }),
    minAgeHours: Type.Integer({ minimum: 0, maximum: 720, default: 24, description: 'A user may change their own password at most once in this many hours (the seed: 24)' }),
  },
  { additionalProperties: false, description: 'Password policy for local users' },
);
export type PasswordPolicyConfig = Static<typeof PasswordPolicySchema>;
/** The policy when the configuration leaves it out: the seed's. */
export const DEFAULT_PASSWORD_POLICY_CONFIG: PasswordPolicyConfig = { minLength: 8, requireLetter: true, requireUpper: true, requireDigit: true, maxRepeat: 3, minAgeHours: 24 };

export const UsersSchema = Type.Object(
  {
    enableSecretHash: Type.String({ format: 'password-hash', description: 'scrypt hash of the enable secret (privileged EXEC and configuration modes)' }),
    local: Type.Array(UserSchema, { minItems: 1, description: 'Local users; the first is the administrator made by the wizard' }),
    lockout: Type.Optional(LockoutSchema),
    passwordPolicy: Type.Optional(PasswordPolicySchema),
  },
  { additionalProperties: false, description: 'Local users and the enable secret' },
);
export type UsersConfig = Static<typeof UsersSchema>;
export type UserConfig = Static<typeof UserSchema>;
