// Console sign-in through the REST API: the calls that make a console
// session (a password, a one-time link, an invitation) and keep it
// (renewal, a new password). Each resolves with a ConsoleSession or rejects
// with a ParleyError (code "offline" when the server cannot be reached).

import { readJSON, ParleyError } from './client.js';

export function consoleAuth(url = '') {
  const base = String(url).replace(/\/+$/, '');
  async function call(method, path, body, token) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(base + '/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ParleyError('offline', 'the server cannot be reached');
    }
    return readJSON(res);
  }
  return {
    call,
    login: (login, password) => call('POST', '/auth/login', { login, password }),
    link: (code) => call('POST', '/auth/link', { code }),
    invite: ({ code, displayName, login, password }) => call('POST', '/auth/invite', { code, display_name: displayName, login, password }),
    setPassword: (token, { login, password, current }) => call('PUT', '/auth/password', { login, password, current_password: current || undefined }, token),
    refresh: (token) => call('POST', '/auth/refresh', undefined, token),
  };
}
