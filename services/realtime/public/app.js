/*
 * Switchboard demo chat: plain browser JavaScript, no build step.
 * Protocol reference: docs/protocol.md.
 *
 * Stable hooks for the e2e suites (change them only together with the specs). Prefer the
 * data-testids; the aria-labels (in quotes) are for people and getByLabel({ exact: true }):
 *   login-form, login-user ("User id"), login-name ("Name"), login-submit   the login form
 *   session, whoami ("Logged in as"), status-select ("My status"), logout   shown once logged in
 *   replica ("Replica")        text = X-Served-By of /health?cid=<cid>, refreshed on every (re)connect;
 *                              data-node-id = the replica's nodeId
 *   connection-state (role=status)  data-state = connecting | connected | reconnecting | disconnected,
 *                              data-transport = websocket | polling
 *   degraded-banner (role=alert)    visible while /health is not "ok"; data-status = degraded | shutting_down
 *   error                      latest error (from an ack or HTTP call); data-code = the error code
 *   rooms / room-tab (data-room, aria-current on the active one) / leave-room (inside its tab)
 *   join-form, room-input ("Room name"), join-room
 *   active-room, room-members (text = comma separated user ids of the active room)
 *   messages (role=log, data-room): one list per joined room, only the active one visible
 *     message          data-id, data-room, data-user-id, data-client-msg-id, data-instance, data-ts;
 *                      children message-user, message-text, message-time, message-instance
 *     pending-message  data-client-msg-id, data-room, data-state = pending | failed; same children
 *   typing             "alice is typing…" for the active room, empty otherwise
 *   send-form, message-input ("Message"), send
 *   online-users / online-user  data-user-id, data-status, data-devices
 *   reminder           the latest response reminder (someone mentioned you and you did not answer)
 *   cluster / cluster-replica   data-instance, data-connections (from GET /api/stats); cluster-summary
 *   devices / device   this user's login sessions (GET /api/sessions), own first: data-session-id,
 *                      data-current = true | false, data-sockets, data-source, data-user-agent;
 *                      revoke-device (inside a device that is not this one) signs it out;
 *                      revoke-other-devices signs out every other session (DELETE /api/sessions)
 * URL parameters: ?cid=<id> overrides this tab's client id (the nginx sticky key),
 *                 ?transport=polling forces HTTP long-polling.
 * window.switchboard exposes the socket and some counters (connects, disconnect reasons,
 * connect_error messages, resends, presence subscribes), the presence map and
 * presenceSubscribed (this socket's presence:subscribe { all: true } succeeded) for page scripts in tests.
 */
(function () {
  'use strict';

  // ---- tunables -------------------------------------------------------------------------
  const ACK_TIMEOUT_MS = 5000;        // an ack slower than this counts as lost: the message stays pending
  const RESEND_EVERY_MS = 3000;       // retry period: pending messages, rooms whose join failed
  const HEALTH_POLL_MS = 2000;        // degraded banner refresh
  const PRESENCE_POLL_MS = 15000;     // full presence refresh (and subscribe retry), repairs anything events missed
  const CLUSTER_POLL_MS = 3000;       // cluster view refresh (GET /api/stats)
  const DEVICES_POLL_MS = 15000;      // devices panel refresh (GET /api/sessions)...
  const DEVICES_SETTLE_MS = 1500;     // ...and this long after our own devices count changed (replicas write counts each second)
  const HEARTBEAT_MS = 15000;         // presence:heartbeat; optional (replicas refresh by themselves), cheap
  const TYPING_THROTTLE_MS = 2000;    // send typing:true at most this often
  const TYPING_IDLE_MS = 3000;        // we send typing:false after this much silence...
  const TYPING_SHOW_MS = 3000;        // ...and forget a remote typist after this long without news
  const SYNC_MARGIN_MS = 10000;       // see syncCheckpoint(): how far before trouble we resync from
  const DEFAULT_ROOM = 'lobby';

  const params = new URLSearchParams(location.search);
  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

  // crypto.randomUUID only exists in secure contexts (https or localhost); the demo may be
  // opened over plain http on a LAN address, so fall back to getRandomValues.
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // One client id per tab: nginx hashes it to pick the replica, so every request of this tab
  // (the socket's polling requests and our /health calls) lands on the same one.
  const cid = params.get('cid') || sessionStorage.getItem('sb.cid') || uuid();
  if (!params.get('cid')) sessionStorage.setItem('sb.cid', cid);
  const forcePolling = params.get('transport') === 'polling';

  // ---- state ----------------------------------------------------------------------------
  let session = loadJSON('sb.session');   // { token, sessionId, userId, name, expiresAt }
  let socket = null;
  let activeRoom = null;
  let degraded = false;
  // room -> { joined, joining: Promise|null, historyLoaded, messages: Map id->msg, members: Set,
  //          typists: Map userId->timer, list: <ol>, tab: <li> }
  const rooms = new Map();
  // clientMsgId -> { clientMsgId, room, text, createdAt, state: 'pending'|'failed', attempt, inFlight }
  // Kept in sessionStorage so a reload does not lose what the server has not confirmed.
  const outbox = new Map((loadJSON('sb.outbox') || []).map((m) => [m.clientMsgId, { ...m, attempt: 0, inFlight: false }]));
  let troubleSince = null;                // when we last lost the server or saw it degraded
  const presence = new Map();             // userId -> { status, devices }
  let presenceBuffer = null;              // presence:update events that arrive during a snapshot fetch
  let presenceSubscribed = false;         // this socket gets presence:update (a new socket has to subscribe)
  let presenceRefreshAgain = false;       // a refresh was asked for while one was in flight
  const stats = { connects: 0, disconnects: [], connectErrors: [], resends: 0, presenceSubscribes: 0 };

  function loadJSON(key) { try { return JSON.parse(sessionStorage.getItem(key)); } catch { return null; } }
  function saveOutbox() {
    sessionStorage.setItem('sb.outbox', JSON.stringify([...outbox.values()].map(
      ({ clientMsgId, room, text, createdAt, state, error }) => ({ clientMsgId, room, text, createdAt, state, error }))));
  }

  // ---- small helpers --------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);   // append() inserts strings as text: no HTML injection
    return e;
  }

  let errorTimer = null;
  function showError(code, message) {
    const box = $('error');
    box.dataset.code = code || 'ERROR';
    box.querySelector('.error-text').textContent = `${code || 'ERROR'}: ${message || ''}`;
    box.hidden = false;
    // Unobtrusive: it fades after a while but stays readable (and in the DOM) until replaced.
    box.classList.remove('faded');
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => box.classList.add('faded'), 8000);
  }
  function showAckError(ack, what) {
    const e = (ack && ack.error) || { code: 'INTERNAL', message: 'no answer' };
    showError(e.code, `${what}: ${e.message}`);
  }

  // HTTP API call; resolves to the parsed body (also for error statuses), never throws.
  async function api(path, opts = {}) {
    const headers = { ...(opts.body ? { 'content-type': 'application/json' } : {}) };
    if (session) headers.authorization = `Bearer ${session.token}`;
    try {
      const res = await fetch(path, { method: opts.method || 'GET', headers,
        body: opts.body ? JSON.stringify(opts.body) : undefined });
      const body = await res.json().catch(() => ({ ok: false, error: { code: 'INTERNAL', message: `HTTP ${res.status}` } }));
      if (res.status === 401 && session && opts.logoutOn401 !== false) endSession('Your session has ended; log in again.');
      return body;
    } catch (err) {
      return { ok: false, error: { code: 'UNAVAILABLE', message: String(err.message || err) } };
    }
  }

  // ---- login / logout -------------------------------------------------------------------
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const userId = $('login-user').value.trim();
    const name = $('login-name').value.trim();
    const body = await api('/api/login', { method: 'POST', body: name ? { userId, name } : { userId } });
    if (!body.ok) return showAckError(body, 'login');
    session = { token: body.token, sessionId: body.sessionId, userId: body.userId, name: body.name, expiresAt: body.expiresAt };
    sessionStorage.setItem('sb.session', JSON.stringify(session));
    startSession();
  });

  $('logout').addEventListener('click', async () => {
    await api('/api/logout', { method: 'POST', logoutOn401: false });
    endSession();
  });

  function startSession() {
    $('login-form').hidden = true;
    $('chat').hidden = false;
    $('session').hidden = false;
    $('whoami').textContent = session.name && session.name !== session.userId
      ? `${session.name} (${session.userId})` : session.userId;
    $('whoami').dataset.userId = session.userId;
    const saved = loadJSON('sb.rooms');
    for (const r of (saved && saved.length ? saved : [DEFAULT_ROOM])) ensureRoom(r);
    selectRoom(rooms.has(DEFAULT_ROOM) ? DEFAULT_ROOM : rooms.keys().next().value);
    for (const m of outbox.values()) { ensureRoom(m.room); renderPending(m); }
    connect();
  }

  // Back to the login form. Local state goes too: the next user of this tab starts clean.
  function endSession(reason) {
    if (socket) { socket.removeAllListeners(); socket.disconnect(); socket = null; }
    session = null;
    for (const k of ['sb.session', 'sb.rooms', 'sb.outbox']) sessionStorage.removeItem(k);
    outbox.clear(); rooms.clear(); presence.clear(); presenceSubscribed = false;
    $('rooms').replaceChildren(); $('message-lists').replaceChildren(); $('online-users').replaceChildren(); $('devices').replaceChildren();
    $('typing').textContent = ''; $('room-members').textContent = ''; $('active-room').textContent = '';
    $('replica').textContent = '–';
    setConnState('disconnected');
    $('chat').hidden = true; $('session').hidden = true; $('login-form').hidden = false;
    if (reason) showError('UNAUTHORIZED', reason);
  }

  // ---- socket -----------------------------------------------------------------------------
  function setConnState(state) {
    const s = $('connection-state');
    s.dataset.state = state;
    s.textContent = state;
    if (socket && socket.io.engine) s.dataset.transport = socket.io.engine.transport.name;
  }

  function connect() {
    if (socket) { socket.removeAllListeners(); socket.disconnect(); }
    setConnState('connecting');
    socket = io(location.origin, {
      // A function, so every reconnect attempt sends the current token.
      auth: (cb) => cb({ token: session && session.token }),
      query: { cid },
      // Default: polling first, then upgrade to websocket. Tests force long-polling to prove stickiness.
      ...(forcePolling ? { transports: ['polling'] } : {}),
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    window.switchboard.socket = socket;

    socket.on('connect', onConnect);
    socket.on('disconnect', (reason) => {
      stats.disconnects.push(reason);
      markTrouble();
      presenceSubscribed = false;   // subscriptions end with the socket
      for (const r of rooms.values()) { r.joined = false; r.joining = null; }   // a new socket joins afresh
      for (const m of outbox.values()) m.inFlight = false;   // their acks will not come
      setConnState('reconnecting');
      // "io server disconnect" (e.g. our session was revoked, or the replica is draining)
      // is the one case where the client does not reconnect by itself.
      if (reason === 'io server disconnect') setTimeout(() => socket && !socket.connected && socket.connect(), 500);
    });
    socket.on('connect_error', (err) => {
      stats.connectErrors.push(err.message);
      markTrouble();
      if (err.message === 'unauthorized') return endSession('Your session is no longer valid; log in again.');
      setConnState('reconnecting');
      // socket.active is false when a server middleware refused us: retry by hand, a little later.
      if (!socket.active) setTimeout(() => socket && !socket.connected && socket.connect(), 2000);
    });
    // Each (re)connection gets a new engine; keep data-transport right when it upgrades.
    socket.io.on('open', () => socket.io.engine.on('upgrade', () => socket && socket.connected && setConnState('connected')));

    socket.on('message:new', (m) => { addMessage(m); settleOutbox(m); });
    socket.on('presence:update', onPresenceUpdate);
    socket.on('room:event', onRoomEvent);
    socket.on('typing', onTyping);
    // Someone mentioned us and we have not answered in that room: a gentle nudge.
    socket.on('reminder', (r) => {
      const box = $('reminder');
      box.textContent = `${r.from} mentioned you in #${r.room}: "${r.text}"`;
      box.dataset.room = r.room;
      box.hidden = false;
      setTimeout(() => { box.hidden = true; }, 15000);
    });
    // Our replica's Redis came back: broadcasts other replicas made meanwhile never reached us.
    socket.on('sync:required', (ev) => {
      resubscribePresence();
      const since = Math.min(troubleSince ?? Date.now(), Number(ev && ev.since) || Infinity);
      for (const delay of [0, 3000]) setTimeout(() => recoverAfterTrouble(since), delay);
    });
  }

  // Every (re)connect: show which replica we are on, rejoin our rooms, fill the gap, resend.
  async function onConnect() {
    stats.connects += 1;
    setConnState('connected');
    refreshReplica();
    resubscribePresence();
    refreshDevices();
    const status = $('status-select').value;
    if (status !== 'online') socket.emit('presence:set', { status }, () => {});
    const since = troubleSince;
    const results = await Promise.all([...rooms.keys()].map((room) => joinRoom(room, since)));
    // Keep the trouble mark if a room could not be synced: the next recovery starts from it again.
    if (results.every(Boolean) && troubleSince === since) troubleSince = null;
    flushOutbox();
  }

  function markTrouble() { if (troubleSince === null) troubleSince = Date.now(); }

  // Ack with a timeout: a lost ack becomes { ok:false, error:{ code:'UNAVAILABLE' } } so callers
  // have one shape to handle. Emits only while connected, because socket.io buffers emits made
  // while disconnected and would replay them after our own resend.
  function request(event, payload) {
    return new Promise((resolve) => {
      if (!socket || !socket.connected) return resolve({ ok: false, error: { code: 'UNAVAILABLE', message: 'not connected' } });
      socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
        resolve(err ? { ok: false, error: { code: 'UNAVAILABLE', message: 'no answer in time' } }
          : (ack || { ok: false, error: { code: 'INTERNAL', message: 'empty ack' } }));
      });
    });
  }

  // ---- replica and health ---------------------------------------------------------------
  // /health with our cid goes through the same nginx hash as the socket, so it names our replica.
  async function fetchHealth() {
    try {
      const res = await fetch(`/health?cid=${encodeURIComponent(cid)}`, { cache: 'no-store' });
      const body = await res.json().catch(() => ({}));
      return { servedBy: res.headers.get('x-served-by') || body.instance, body };
    } catch { return null; }
  }

  async function refreshReplica() {
    const h = await fetchHealth();
    if (!h) return;
    $('replica').textContent = h.servedBy || '?';
    if (h.body.nodeId) $('replica').dataset.nodeId = h.body.nodeId;
    applyHealth(h.body);
  }

  function applyHealth(body) {
    const banner = $('degraded-banner');
    const status = body && body.status;
    // No answer from a replica (nginx down, or 502 "no live upstreams" while it has marked the
    // replicas failed): not proof of an outage, but mark trouble so a later history:sync starts
    // early enough (overlap is free: we dedupe by id). The connection state tells the rest.
    if (!status) { if (session) markTrouble(); return; }
    const wasDegraded = degraded;
    degraded = status !== 'ok';
    if (degraded) {
      const down = Object.entries(body.services || {}).filter(([, v]) => v === 'disconnected').map(([k]) => k);
      banner.dataset.status = status;
      banner.textContent = status === 'shutting_down'
        ? 'This replica is shutting down: you will be moved to another one.'
        : `Degraded service${down.length ? ` (${down.join(', ')} unavailable)` : ''}: ` +
          'chat keeps working on this replica; messages are kept and delivered when it recovers.';
      banner.hidden = false;
      markTrouble();
    } else {
      banner.hidden = true;
      banner.textContent = '';
      delete banner.dataset.status;
      // Recovered without a reconnect (e.g. Redis came back): messages other replicas accepted
      // meanwhile never reached us, so fetch them. Twice, as the other replicas may recover later.
      // A few times, as the other replicas may recover (and resubscribe) a little later than ours.
      if (wasDegraded && socket && socket.connected) {
        const since = troubleSince ?? Date.now();
        for (const delay of [0, 3000, 8000]) setTimeout(() => recoverAfterTrouble(since), delay);
      }
    }
  }

  async function recoverAfterTrouble(since) {
    if (!socket || !socket.connected) return;   // onConnect will do it
    const results = await Promise.all([...rooms.keys()].map((room) => syncRoom(room, since)));
    if (results.every(Boolean) && troubleSince === since && !degraded) troubleSince = null;
    refreshPresence();
    flushOutbox();
  }

  setInterval(async () => {
    if (!session) return;
    const h = await fetchHealth();
    if (h) applyHealth(h.body);
  }, HEALTH_POLL_MS);

  // ---- rooms ------------------------------------------------------------------------------
  function ensureRoom(room) {
    if (rooms.has(room)) return rooms.get(room);
    const list = el('ol', { 'data-testid': 'messages', role: 'log', 'aria-label': `Chat log ${room}`,
      'data-room': room, class: 'messages' });
    list.hidden = true;
    $('message-lists').append(list);
    const leave = el('button', { type: 'button', 'data-testid': 'leave-room', 'aria-label': `Leave ${room}`, class: 'leave' }, '×');
    const tab = el('li', { 'data-testid': 'room-tab', 'data-room': room, class: 'tab' },
      el('button', { type: 'button', class: 'pick', 'aria-label': `Open ${room}` }, `#${room}`), leave);
    tab.querySelector('.pick').addEventListener('click', () => selectRoom(room));
    leave.addEventListener('click', () => leaveRoom(room));
    $('rooms').append(tab);
    const r = { joined: false, joining: null, historyLoaded: false, messages: new Map(), members: new Set(), typists: new Map(), list, tab };
    rooms.set(room, r);
    sessionStorage.setItem('sb.rooms', JSON.stringify([...rooms.keys()]));
    return r;
  }

  function selectRoom(room) {
    activeRoom = room;
    for (const [name, r] of rooms) {
      r.list.hidden = name !== room;
      if (name === room) r.tab.setAttribute('aria-current', 'true'); else r.tab.removeAttribute('aria-current');
    }
    $('active-room').textContent = room ? `#${room}` : '';
    renderMembers();
    renderTyping();
    const r = rooms.get(room);
    if (r) r.list.scrollTop = r.list.scrollHeight;
  }

  // Join (or rejoin after a reconnect), then load what we do not have yet. Resolves to true
  // when the room is joined and synced.
  async function joinRoom(room, since = troubleSince) {
    const r = rooms.get(room);
    if (!r) return true;
    if (r.joining) return r.joining;   // one join at a time per room
    const p = joinAndSync(room, r, since).finally(() => { if (r.joining === p) r.joining = null; });
    r.joining = p;
    return p;
  }
  async function joinAndSync(room, r, since) {
    const ack = await request('room:join', { room });
    if (!ack.ok) {
      showAckError(ack, `join ${room}`);
      // A name the server refuses will never work: drop the room. Anything else (RATE_LIMITED,
      // UNAVAILABLE): keep it, rejoinMissing() tries again every few seconds.
      if (ack.error && (ack.error.code === 'VALIDATION' || ack.error.code === 'FORBIDDEN')) { dropRoom(room); return true; }
      return false;
    }
    if (!rooms.has(room)) return true;   // left while the join was in flight
    r.joined = true;
    r.members = new Set(ack.members || []);
    if (room === activeRoom) renderMembers();
    return syncRoom(room, since);
  }

  // First time: the newest page of history over HTTP (newest first; addMessage orders them).
  // Afterwards: history:sync from a point we surely had, and merge (dedupe by id), page after
  // page while the server says hasMore.
  async function syncRoom(room, since) {
    const r = rooms.get(room);
    if (!r) return true;
    if (!r.historyLoaded) {
      const body = await api(`/api/rooms/${encodeURIComponent(room)}/messages?limit=50`);
      if (!body.ok) { showAckError(body, `history of ${room}`); return false; }
      for (const m of body.messages || []) addMessage(m);
      r.historyLoaded = true;
      return true;
    }
    // No checkpoint: history:sync without `after` answers the latest page (up to 500 messages).
    let cursor = syncCheckpoint(r, since);
    for (let page = 0; page < 20; page++) {
      const ack = await request('history:sync', cursor ? { room, after: cursor } : { room });
      // Our anchor is unknown there (history wiped?): fall back to the latest page.
      if (!ack.ok && ack.error.code === 'NOT_FOUND' && cursor) { cursor = null; continue; }
      if (!ack.ok) { showAckError(ack, `sync ${room}`); return false; }
      const msgs = ack.messages || [];
      for (const m of msgs) addMessage(m);
      // The server pages (hasMore); without that flag we stop at an empty page.
      if (!msgs.length || ack.hasMore === false || msgs[msgs.length - 1].id === cursor) return true;
      cursor = msgs[msgs.length - 1].id;
    }
    return true;
  }

  // The id to sync after. Not simply the newest message we hold: during a Redis outage we keep
  // receiving our own replica's messages while missing the others', so the newest one may be
  // later than a gap. Take the newest message stamped well before the trouble began
  // (server ts vs. our clock, hence the margin); overlap costs nothing, we dedupe by id.
  function syncCheckpoint(r, since) {
    const msgs = sortedMessages(r);
    if (!msgs.length) return null;
    if (since === null || since === undefined) return msgs[msgs.length - 1].id;
    const limit = since - SYNC_MARGIN_MS;
    for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].ts <= limit) return msgs[i].id;
    return null;   // everything we hold is recent: the gap may lie before all of it, sync the latest page
  }

  async function leaveRoom(room) {
    const ack = await request('room:leave', { room });
    if (!ack.ok && ack.error.code !== 'UNAVAILABLE') showAckError(ack, `leave ${room}`);
    dropRoom(room);
  }

  function dropRoom(room) {
    const r = rooms.get(room);
    if (!r) return;
    r.list.remove(); r.tab.remove();
    for (const t of r.typists.values()) clearTimeout(t);
    rooms.delete(room);
    for (const m of [...outbox.values()]) if (m.room === room) outbox.delete(m.clientMsgId);
    saveOutbox();
    sessionStorage.setItem('sb.rooms', JSON.stringify([...rooms.keys()]));
    if (activeRoom === room) selectRoom(rooms.keys().next().value || null);
  }

  $('join-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const room = $('room-input').value.trim();
    if (!room) return;
    $('room-input').value = '';
    const isNew = !rooms.has(room);
    ensureRoom(room);
    selectRoom(room);
    if (isNew || !rooms.get(room).joined) await joinRoom(room);
  });

  function onRoomEvent(ev) {
    const r = rooms.get(ev.room);
    if (!r) return;
    if (ev.type === 'join') r.members.add(ev.userId); else if (ev.type === 'leave') r.members.delete(ev.userId);
    if (ev.room === activeRoom) renderMembers();
  }

  function renderMembers() {
    const r = rooms.get(activeRoom);
    $('room-members').textContent = r ? [...r.members].sort().join(', ') : '';
  }

  // ---- messages ---------------------------------------------------------------------------
  function cmp(a, b) { return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0); }
  function sortedMessages(r) { return [...r.messages.values()].sort(cmp); }

  function fmtTime(ts) { const d = new Date(ts); return isNaN(d) ? '' : d.toLocaleTimeString(); }
  function isoTime(ts) { const d = new Date(ts); return isNaN(d) ? '' : d.toISOString(); }

  function messageBody(m, extra) {
    return [
      el('span', { class: 'user', 'data-testid': 'message-user' }, m.userId || session.userId),
      el('span', { class: 'text', 'data-testid': 'message-text' }, m.text),
      el('time', { class: 'time', 'data-testid': 'message-time', datetime: isoTime(m.ts || m.createdAt) },
        fmtTime(m.ts || m.createdAt)),
      el('span', { class: 'via', 'data-testid': 'message-instance', title: 'replica that accepted it' }, extra),
    ];
  }

  // Insert once (dedupe by id) at its place in (ts, id) order. Pending items stay at the bottom.
  function addMessage(m) {
    if (!m || !m.id || !m.room) return;
    const r = rooms.get(m.room);
    if (!r || r.messages.has(m.id)) return;
    r.messages.set(m.id, m);
    const li = el('li', { 'data-testid': 'message', class: 'message', 'data-id': m.id, 'data-room': m.room,
      'data-user-id': m.userId, 'data-client-msg-id': m.clientMsgId, 'data-instance': m.instance, 'data-ts': m.ts },
    ...messageBody(m, m.instance ? `via ${m.instance}` : ''));
    if (session && m.userId === session.userId) li.classList.add('mine');
    // Walk back from the newest: new messages almost always belong at the end.
    let before = r.list.querySelector('[data-testid="pending-message"]');
    const confirmed = r.list.querySelectorAll('[data-testid="message"]');
    for (let i = confirmed.length - 1; i >= 0; i--) {
      const other = r.messages.get(confirmed[i].dataset.id);
      if (cmp(other, m) < 0) break;
      before = confirmed[i];
    }
    const atBottom = r.list.scrollHeight - r.list.scrollTop - r.list.clientHeight < 40;
    r.list.insertBefore(li, before);
    if (atBottom) r.list.scrollTop = r.list.scrollHeight;
  }

  // ---- outbox: at-least-once sending with a stable clientMsgId ------------------------------
  $('send-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('message-input');
    const text = input.value;
    if (!text.trim() || !activeRoom) return;
    input.value = '';
    stopTyping();
    const m = { clientMsgId: uuid(), room: activeRoom, text, createdAt: Date.now(), state: 'pending', attempt: 0, inFlight: false };
    outbox.set(m.clientMsgId, m);
    saveOutbox();
    renderPending(m);
    flushOutbox();
  });

  function renderPending(m) {
    const r = rooms.get(m.room);
    if (!r) return;
    let li = r.list.querySelector(`[data-testid="pending-message"][data-client-msg-id="${CSS.escape(m.clientMsgId)}"]`);
    if (!li) {
      li = el('li', { 'data-testid': 'pending-message', class: 'message pending mine', 'data-client-msg-id': m.clientMsgId, 'data-room': m.room });
      li.append(...messageBody(m, ''));
      r.list.append(li);
      r.list.scrollTop = r.list.scrollHeight;
    }
    li.dataset.state = m.state;
    const via = li.querySelector('.via');
    via.replaceChildren(m.state === 'failed' ? `not sent: ${m.error || 'refused'} ` : 'pending…');
    if (m.state === 'failed') {
      const discard = el('button', { type: 'button', class: 'discard', 'aria-label': 'Discard message' }, 'discard');
      discard.addEventListener('click', () => { outbox.delete(m.clientMsgId); saveOutbox(); li.remove(); });
      via.append(discard);
    }
  }

  // The server confirmed it (by ack or by broadcast): the pending copy goes, the real one stays.
  function settleOutbox(message) {
    if (!message || !message.clientMsgId || !outbox.has(message.clientMsgId)) return;
    if (session && message.userId && message.userId !== session.userId) return;
    outbox.delete(message.clientMsgId);
    saveOutbox();
    document.querySelectorAll(`[data-testid="pending-message"][data-client-msg-id="${CSS.escape(message.clientMsgId)}"]`)
      .forEach((li) => li.remove());
  }

  // One message in flight at a time, oldest first, so a retried burst keeps its order. Each turn
  // picks the oldest sendable message again, so messages typed meanwhile go out without waiting.
  let flushing = false;
  function nextSendable() {
    const blocked = new Set();   // rooms where an older message is stuck: later ones wait behind it
    for (const m of [...outbox.values()].sort((a, b) => a.createdAt - b.createdAt)) {
      if (m.state !== 'pending' || blocked.has(m.room)) continue;
      const r = rooms.get(m.room);
      if (r && r.joined) return m;
      blocked.add(m.room);
    }
    return null;
  }
  async function flushOutbox() {
    if (flushing) return;
    flushing = true;
    try {
      for (let m = nextSendable(); m && socket && socket.connected; m = nextSendable()) {
        m.attempt = (m.attempt || 0) + 1;
        if (m.attempt > 1) stats.resends += 1;
        m.inFlight = true;
        const ack = await request('message:send', { room: m.room, text: m.text, clientMsgId: m.clientMsgId });
        m.inFlight = false;
        if (ack.ok) {
          addMessage(ack.message);
          settleOutbox({ ...ack.message, clientMsgId: m.clientMsgId, userId: undefined });
          continue;
        }
        const code = ack.error && ack.error.code;
        if (code === 'VALIDATION') {
          // The server will never take it: say so and let the user discard it.
          m.state = 'failed'; m.error = ack.error.message; saveOutbox(); renderPending(m);
          showAckError(ack, 'send');
          continue;
        }
        const r = rooms.get(m.room);
        if (code === 'FORBIDDEN' && r) r.joined = false;   // we are not in the room (any more): rejoin first
        if (code === 'UNAVAILABLE') showError('UNAVAILABLE', `${ack.error.message}: message kept, will be resent`);
        else showAckError(ack, 'send');
        if (code === 'RATE_LIMITED' && ack.error.retryAfterMs) setTimeout(flushOutbox, Math.min(ack.error.retryAfterMs + 50, 60000));
        return;   // UNAVAILABLE, RATE_LIMITED, timeout...: keep it pending, retry in a moment, keep order
      }
    } finally {
      flushing = false;
    }
  }

  // Rooms whose join failed (rate limited, Redis hiccup) or that a FORBIDDEN answer told us we
  // are not in: join them again (and sync them), then resend what is pending.
  async function rejoinMissing() {
    const missing = [...rooms.entries()].filter(([, r]) => !r.joined).map(([name]) => name);
    if (!missing.length) return;
    const since = troubleSince;
    const results = await Promise.all(missing.map((room) => joinRoom(room, since)));
    if (results.every(Boolean) && troubleSince === since && !degraded) troubleSince = null;
  }
  setInterval(async () => {
    if (!socket || !socket.connected) return;
    await rejoinMissing();
    if (outbox.size) flushOutbox();
  }, RESEND_EVERY_MS);

  // ---- typing -------------------------------------------------------------------------------
  let typingSentAt = 0, typingRoom = null, typingIdle = null;
  $('message-input').addEventListener('input', () => {
    if (!socket || !socket.connected || !activeRoom) return;
    const now = Date.now();
    if (now - typingSentAt > TYPING_THROTTLE_MS || typingRoom !== activeRoom) {
      if (typingRoom && typingRoom !== activeRoom) socket.emit('typing', { room: typingRoom, typing: false });
      socket.emit('typing', { room: activeRoom, typing: true });
      typingSentAt = now; typingRoom = activeRoom;
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingRoom && socket && socket.connected) socket.emit('typing', { room: typingRoom, typing: false });
    typingRoom = null; typingSentAt = 0;
  }

  function onTyping(ev) {
    const r = rooms.get(ev.room);
    if (!r || !session || ev.userId === session.userId) return;
    clearTimeout(r.typists.get(ev.userId));
    if (ev.typing) {
      // Forget a typist we hear nothing more from (their typing:false may never come).
      r.typists.set(ev.userId, setTimeout(() => { r.typists.delete(ev.userId); renderTyping(); }, TYPING_SHOW_MS));
    } else {
      r.typists.delete(ev.userId);
    }
    renderTyping();
  }

  function renderTyping() {
    const r = rooms.get(activeRoom);
    const who = r ? [...r.typists.keys()].sort() : [];
    const box = $('typing');
    box.dataset.users = who.join(',');
    box.textContent = !who.length ? '' : who.length === 1 ? `${who[0]} is typing…`
      : `${who.slice(0, -1).join(', ')} and ${who[who.length - 1]} are typing…`;
  }

  // ---- presence -----------------------------------------------------------------------------
  // presence:update reaches only sockets that subscribed, and a subscription lives on the socket:
  // after every (re)connect, and when our replica asks us to resync (sync:required), subscribe to
  // everyone again; the ack carries the snapshot. The periodic repair takes its snapshot from
  // GET /api/presence, or subscribes if an earlier attempt failed. Events that arrive while a
  // snapshot is in flight are replayed on top of it, so an older snapshot cannot undo a newer event.
  function resubscribePresence() {
    presenceSubscribed = false;
    refreshPresence();
  }

  async function refreshPresence() {
    if (!session) return;
    if (presenceBuffer) { presenceRefreshAgain = true; return; }   // one at a time; run again after it
    presenceBuffer = [];
    let body = null;
    if (!presenceSubscribed) {
      stats.presenceSubscribes += 1;
      body = await request('presence:subscribe', { all: true });
      if (body.ok) presenceSubscribed = true;
    }
    // Not connected, or refused (RATE_LIMITED...): take the HTTP snapshot, retry on the next poll.
    if (!body || !body.ok) body = await api('/api/presence');
    const buffered = presenceBuffer;
    presenceBuffer = null;
    if (body.ok) {   // otherwise transient (Redis down...): keep what we have
      presence.clear();
      for (const u of body.users || []) applyPresence(u);
      for (const ev of buffered) applyPresence(ev);
      renderPresence();
    }
    if (presenceRefreshAgain) { presenceRefreshAgain = false; refreshPresence(); }
  }

  function onPresenceUpdate(ev) {
    // One of our own sessions connected or went: the devices panel changes too.
    if (session && ev.userId === session.userId) refreshDevicesSoon();
    if (presenceBuffer) presenceBuffer.push(ev);
    applyPresence(ev);
    renderPresence();
  }

  function applyPresence(ev) {
    if (ev.online === false) presence.delete(ev.userId);
    else presence.set(ev.userId, { status: ev.status, devices: ev.devices });
  }

  function renderPresence() {
    const items = [...presence.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([userId, p]) =>
      el('li', { 'data-testid': 'online-user', 'data-user-id': userId, 'data-status': p.status || 'online',
        'data-devices': p.devices, class: `user-${p.status || 'online'}` },
      el('span', { class: 'dot', 'aria-hidden': 'true' }), userId,
      session && userId === session.userId ? ' (you)' : '',
      el('span', { class: 'status' }, ` ${p.status || 'online'}${p.devices > 1 ? ` · ${p.devices} devices` : ''}`)));
    $('online-users').replaceChildren(...items);
  }

  setInterval(() => { if (socket && socket.connected) refreshPresence(); }, PRESENCE_POLL_MS);
  setInterval(() => { if (socket && socket.connected) socket.emit('presence:heartbeat', () => {}); }, HEARTBEAT_MS);

  // ---- cluster view ----------------------------------------------------------------------------
  // Replicas and their connection counts as each last reported them in its heartbeat.
  async function refreshCluster() {
    if (!session) return;
    const body = await api('/api/stats');
    if (!body.ok) {
      // An operators' view: only users with the admin role (the dev stack's demo user `admin`, AUTH_DEMO_ADMINS).
      $('cluster-summary').textContent = body.error && body.error.code === 'FORBIDDEN' ? 'cluster view: operators only (log in as admin)' : 'cluster statistics unavailable';
      return;
    }
    const mine = $('replica').textContent;
    $('cluster').replaceChildren(...body.replicas
      .sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0))
      .map((r) => el('li', { 'data-testid': 'cluster-replica', 'data-instance': r.instance, 'data-connections': r.connections,
        class: r.instance === mine ? 'mine' : undefined }, `${r.instance} · ${r.connections} conn.`)));
    $('cluster-summary').textContent = `${body.replicas.length} replicas · ${body.connections} connections · ${body.onlineUsers} online · ${body.rooms} rooms`;
  }
  setInterval(() => { if (socket && socket.connected) refreshCluster(); }, CLUSTER_POLL_MS);

  // ---- devices ---------------------------------------------------------------------------------
  // This user's login sessions: where each one is from, its connections now, and a way to end it.
  // Ending one disconnects its sockets everywhere; that page's reconnect is refused and it logs out.
  async function refreshDevices() {
    if (!session) return;
    const body = await api('/api/sessions');
    if (!body.ok || !session) return;   // transient (Redis down...): keep what we show
    $('devices').replaceChildren(...body.sessions.map((d) => {
      const li = el('li', { 'data-testid': 'device', 'data-session-id': d.sessionId, 'data-current': String(d.current),
        'data-sockets': d.sockets, 'data-source': d.source, 'data-user-agent': d.userAgent || '' },
      el('div', { class: 'what', title: d.userAgent || 'no user agent' }, `${describeAgent(d.userAgent)}${d.current ? ' (this device)' : ''}`),
      el('div', { class: 'meta' }, d.sockets > 0 ? `connected now (${d.sockets} connection${d.sockets === 1 ? '' : 's'})`
        : `last active ${fmtDay(d.lastActiveAt)}`));
      if (!d.current) {
        const revoke = el('button', { type: 'button', class: 'revoke', 'data-testid': 'revoke-device',
          'aria-label': `Sign out ${describeAgent(d.userAgent)}` }, 'sign out');
        revoke.addEventListener('click', () => revokeDevice(d.sessionId));
        li.append(revoke);
      }
      return li;
    }));
    $('revoke-other-devices').hidden = !body.sessions.some((d) => !d.current);
  }

  let devicesTimer = null;
  function refreshDevicesSoon() {
    clearTimeout(devicesTimer);
    devicesTimer = setTimeout(refreshDevices, DEVICES_SETTLE_MS);
  }

  async function revokeDevice(sessionId) {
    const body = await api(`/api/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE' });
    if (!body.ok) showAckError(body, 'sign out device');
    refreshDevices();
  }

  $('revoke-other-devices').addEventListener('click', async () => {
    const body = await api('/api/sessions', { method: 'DELETE' });
    if (!body.ok) showAckError(body, 'sign out other devices');
    refreshDevices();
  });

  // "Firefox on Linux" from a User-Agent when it is a common browser's; the raw string otherwise.
  function describeAgent(ua) {
    if (!ua) return 'unknown device';
    const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']].find(([k]) => ua.includes(k));
    const os = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS', 'macOS'], ['Linux', 'Linux']].find(([k]) => ua.includes(k));
    return browser && os ? `${browser[1]} on ${os[1]}` : ua.slice(0, 60);
  }

  function fmtDay(ts) {
    const d = new Date(ts);
    if (isNaN(d)) return '';
    return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }

  setInterval(() => { if (socket && socket.connected) refreshDevices(); }, DEVICES_POLL_MS);

  $('status-select').addEventListener('change', async () => {
    const ack = await request('presence:set', { status: $('status-select').value });
    if (!ack.ok) showAckError(ack, 'status');
  });

  $('error').querySelector('.dismiss').addEventListener('click', () => { $('error').hidden = true; });

  // ---- boot -----------------------------------------------------------------------------------
  window.switchboard = { cid, socket: null, stats, rooms, outbox, presence,
    get session() { return session; }, get presenceSubscribed() { return presenceSubscribed; } };
  if (session && session.expiresAt && session.expiresAt < Date.now()) { session = null; sessionStorage.removeItem('sb.session'); }
  if (session) startSession();
})();
