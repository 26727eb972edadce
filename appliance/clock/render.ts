import { plain, type Renderer } from '../config/units.ts';

/** Time zone: /etc/timezone plus the /etc/localtime link. */
export const render: Renderer = (c) => ({
  name: 'clock',
  files: [
    { path: '/etc/timezone', content: `${plain(c.clock.timezone, 'time zone')}\n` },
    { path: '/etc/localtime', content: '', linkTarget: `/usr/share/zoneinfo/${c.clock.timezone}` },
  ],
  reload: [],
});
