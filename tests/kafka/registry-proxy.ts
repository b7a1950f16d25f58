/**
 * A TCP proxy on loopback in front of the schema registry, for outage tests (issue 16): `down()` cuts every open
 * connection and resets new ones (as a registry that crashed or a network partition would), `up()` forwards again.
 * Nothing is mocked: every byte that passes goes to the real registry.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface RegistryProxy {
  /** The registry URL through the proxy (same path as the real one). */
  readonly url: string;
  /** Cuts the open connections; new ones are reset until `up()`. */
  down(): void;
  /** Forwards again. */
  up(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (a free port) to the registry at `registryUrl`. */
export async function startRegistryProxy(registryUrl: string): Promise<RegistryProxy> {
  const target = new URL(registryUrl);
  const targetPort = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  let isDown = false;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(targetPort, target.hostname);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`;
  return {
    url,
    down() {
      isDown = true;
      for (const s of open) s.resetAndDestroy();
      open.clear();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
