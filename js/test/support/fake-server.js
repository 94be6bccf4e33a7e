// A scripted Mutual server that does not hold the user's verifier: it answers
// 401-INIT, then a well-formed 401-KEX-S1 computed from a verifier of another
// password (or a random element), then a 200 whose Authentication-Info is
// missing or carries a vks the client cannot accept. Its 200 bodies say
// FORGED, so a test can tell whether a body was handed out.
import { createServer } from 'node:http';
import { findAlgorithm } from '../../src/kam3.js';
import { toHex } from '../../src/encoding.js';
import { webcrypto } from '../../src/webcrypto.js';
import {
  authInfoHeader, challengeHeader, mutualChallenge, parseChallenges,
} from '../../src/header.js';

export const FORGED = 'FORGED BODY: this must never reach the caller';

// mode: 'missing-vks' | 'random-vks' | 'wrong-verifier' | 'wrong-sid' | 'kex-then-200'
export async function startFakeServer({ mode, algorithm = 'iso-kam3-ec-p256-sha256',
  realm = 'fake realm', scope = '127.0.0.1' }) {
  const a = findAlgorithm(algorithm);
  const sessions = new Map();
  const common = { algorithm: a.name, validation: 'host', authScope: scope, realm };
  const server = createServer(async (req, res) => {
    try {
      const auth = req.headers.authorization;
      const init = () => {
        res.writeHead(401, { 'WWW-Authenticate': challengeHeader(
          { ...common, kind: 'init', reason: auth ? 'auth-failed' : 'initial' }, a.quotedOnWire) });
        res.end('401');
      };
      if (!auth) return init();
      const [item] = parseChallenges(auth);
      const p = item.params;
      if (p.has('kc1')) {
        const kc1 = a.decodeKey(p.get('kc1').value);
        const ss1 = a.randomServerScalar();
        const wrongPi = await a.pi('not the password', scope, realm, p.get('user').value);
        const j = await a.verifier(wrongPi);
        const ks1 = await a.serverKey(j, kc1, ss1);
        const z = await a.serverSecret(kc1, ks1, ss1);
        const sid = toHex(webcrypto.getRandomValues(new Uint8Array(16)));
        sessions.set(sid, { kc1, ks1, z });
        if (mode === 'kex-then-200') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          return res.end(FORGED);
        }
        res.writeHead(401, { 'WWW-Authenticate': challengeHeader({ ...common, kind: 'kex-s1', sid,
          ks1: a.encodeKey(ks1), ncMax: 100, ncWindow: 128, time: 300 }, a.quotedOnWire) });
        return res.end('401');
      }
      if (p.has('vkc')) {
        const sid = p.get('sid').value;
        const s = sessions.get(sid);
        if (!s) return init();
        const headers = { 'Content-Type': 'text/plain' };
        const nc = Number(p.get('nc').value);
        const vh = `http://127.0.0.1:${server.address().port}`;
        if (mode === 'random-vks') {
          headers['Authentication-Info'] = authInfoHeader(sid,
            a.encodeVk(webcrypto.getRandomValues(new Uint8Array(a.hashLength))),
            a.quotedOnWire);
        } else if (mode === 'wrong-verifier') {
          headers['Authentication-Info'] = authInfoHeader(sid,
            a.encodeVk(await a.vkS(s.kc1, s.ks1, s.z, nc, vh)), a.quotedOnWire);
        } else if (mode === 'wrong-sid') {
          headers['Authentication-Info'] = authInfoHeader('00' + sid,
            a.encodeVk(await a.vkS(s.kc1, s.ks1, s.z, nc, vh)), a.quotedOnWire);
        }
        res.writeHead(200, headers);
        return res.end(FORGED);
      }
      return init();
    } catch (e) {
      res.writeHead(400);
      res.end(String(e));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
}
