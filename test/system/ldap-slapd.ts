/**
 * A real OpenLDAP slapd for the LDAP system tests: a temporary slapd.conf (mdb backend, core,
 * cosine, inetorgperson and nis schemas), listening on 127.0.0.1 only, with a small tree loaded by
 * ldapadd: people, groups (one nested in another), a bind user. stop() kills it; remove() also
 * deletes its directory. Restartable on the same port, for health transition tests.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const BASE = 'dc=example,dc=com';
export const ROOT_DN = `cn=root,${BASE}`;
export const ROOT_PW = 'root-secret-1';
export const BIND_DN = `cn=keel-bind,ou=service,${BASE}`;
export const BIND_PW = 'bind-secret-1';
export const ADMINS = `cn=keel-admins,ou=groups,${BASE}`;
export const OPERATORS = `cn=keel-operators,ou=groups,${BASE}`;
export const PASSWORDS: Record<string, string> = { alice: 'Alice-pw-1', bob: 'Bob-pw-1', carol: 'Carol-pw-1' };

/** A port nothing listens on right now (free when asked). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function tree(): string {
  const user = (uid: string, cn: string) => `dn: uid=${uid},ou=people,${BASE}
objectClass: inetOrgPerson
objectClass: posixAccount
uid: ${uid}
cn: ${cn}
sn: ${cn.split(' ').pop()}
mail: ${uid}@example.com
uidNumber: ${1000 + uid.length}
gidNumber: 1000
homeDirectory: /home/${uid}
userPassword: ${PASSWORDS[uid]}
`;
  const group = (cn: string, members: string[]) => `dn: cn=${cn},ou=groups,${BASE}
objectClass: groupOfNames
cn: ${cn}
${members.map((m) => `member: ${m}`).join('\n')}
`;
  return [
    `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example Corp\n`,
    `dn: ou=people,${BASE}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ou=groups,${BASE}\nobjectClass: organizationalUnit\nou: groups\n`,
    `dn: ou=service,${BASE}\nobjectClass: organizationalUnit\nou: service\n`,
    `dn: ${BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: keel-bind\nuserPassword: ${BIND_PW}\n`,
    user('alice', 'Alice Admin'),
    user('bob', 'Bob Operator'),
    user('carol', 'Carol Nobody'),
    // alice is an administrator only through helpdesk, nested in keel-admins.
    group('helpdesk', [`uid=alice,ou=people,${BASE}`]),
    group('keel-admins', [`cn=helpdesk,ou=groups,${BASE}`]),
    group('keel-operators', [`uid=bob,ou=people,${BASE}`]),
  ].join('\n');
}

export interface Slapd {
  dir: string;
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

async function waitForPort(port: number, proc: ChildProcess, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`slapd exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('slapd did not start listening');
}

/** Starts slapd on a free loopback port with the test tree loaded, then `extra` LDIF (added with ManageDsaIT, so referral objects stay objects). */
export async function startSlapd(extra = ''): Promise<Slapd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-slapd-'));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  fs.mkdirSync(path.join(dir, 'db'));
  const conf = path.join(dir, 'slapd.conf');
  fs.writeFileSync(
    conf,
    `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
database mdb
maxsize 16777216
suffix "${BASE}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PW}
directory ${dir}/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
`,
  );
  let proc: ChildProcess | null = null;
  const s: Slapd = {
    dir,
    port,
    url,
    async start() {
      proc = spawn('slapd', ['-h', `${url}/`, '-f', conf, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      proc.stderr!.on('data', (d) => (err += d));
      try {
        await waitForPort(port, proc);
      } catch (e) {
        throw new Error(`${(e as Error).message}: ${err}`);
      }
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        p.once('exit', () => (clearTimeout(t), resolve()));
        p.kill('SIGTERM');
      });
    },
    async remove() {
      await s.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await s.start();
    fs.writeFileSync(path.join(dir, 'tree.ldif'), tree());
    execFileSync('ldapadd', ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-f', path.join(dir, 'tree.ldif')], { stdio: 'pipe' });
    if (extra) {
      fs.writeFileSync(path.join(dir, 'extra.ldif'), extra);
      execFileSync('ldapadd', ['-x', '-M', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-f', path.join(dir, 'extra.ldif')], { stdio: 'pipe' });
    }
  } catch (e) {
    await s.remove();
    throw e;
  }
  return s;
}

/** The ldap section for this test tree's directory at `url`: bind user and password, both groups mapped. */
export function ldapSectionFor(url: string) {
  return {
    enabled: true,
    type: 'other' as const,
    domain: 'example.com',
    url,
    bindDn: BIND_DN,
    password: BIND_PW,
    searchTimeout: 5,
    chaseReferrals: false,
    roleMappings: [
      { group: ADMINS, role: 'admin' as const },
      { group: OPERATORS, role: 'operator' as const },
    ],
    health: { interval: 10, liveThreshold: 3, deadThreshold: 3 },
  };
}
