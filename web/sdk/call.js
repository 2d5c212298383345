// Calls between two people over WebRTC. The server rings, answers and
// relays negotiation between exactly the two devices of a call
// (docs/protocol.md, Calls); media goes browser to browser, or through
// TURN with the ice_servers the connection got.
//
// client.calls is a Calls. It fires "incoming" (someone calls this user:
// ring) and "outgoing" (this device started a call), each with a
// CallSession, whose events are "state", "stream", "stats" and "ended".
//
// Negotiation is "perfect negotiation": each side adds its tracks and
// offers when it needs to; on a collision the polite side (the callee)
// rolls its offer back, so glare never wedges a call. ICE restarts when
// the network changes (the connection fails, or stays disconnected), and
// after a reconnect of the WebSocket the device rejoins the call. The
// sender lowers its video bitrate and resolution while the link shows loss
// or too little bandwidth, within the operator's cap.

import { ParleyError } from './errors.js';
import { INBOX } from './client.js';

const STATS_EVERY_MS = 1000;
const DISCONNECTED_RESTART_MS = 3000; // "disconnected" this long: restart ICE
const FAILED_GIVE_UP_MS = 20000; // no media this long after a failure: end the call
const MIN_BITRATE = 150_000;

export class Calls extends EventTarget {
  constructor(client) {
    super();
    this.client = client;
    this.current = null; // the session this device takes part in (or rings for)
    this.sessions = new Map(); // call id → CallSession (ringing here or in progress)
    const on = (name, f) => client.addEventListener(name, (e) => f(e.detail));
    on('call:incoming', (c) => this._incoming(c));
    on('call:accepted', (c) => this.sessions.get(c.id)?._accepted(c));
    on('call:answered', (c) => this.sessions.get(c.id)?._answeredElsewhere(c));
    on('call:busy', (c) => this.sessions.get(c.id)?._end('busy'));
    on('call:ended', (e) => this.sessions.get(e.call_id)?._end(e.reason, e));
    on('call:rejoined', (c) => this.sessions.get(c.id)?._peerRejoined());
    for (const ev of ['call:offer', 'call:answer', 'call:ice']) on(ev, (sig) => this.sessions.get(sig.call_id)?._signal(ev, sig));
    // A new WebSocket is a new device to the server: take the call along.
    on('connected', () => this.current?.state === 'active' && this.current._rejoin());
  }

  // relayOnly forces media through TURN (set localStorage
  // "parley.ice" = "relay" to test a TURN server from a browser).
  get relayOnly() {
    try {
      return localStorage.getItem('parley.ice') === 'relay';
    } catch {
      return false;
    }
  }

  // start calls the other side of a conversation (audio or video). A
  // visitor's inbox placeholder (INBOX) is opened first: its id is the
  // conversation to call.
  async start(conversationId, media = 'video') {
    if (this.current) throw new ParleyError('in_call', 'you are already in a call');
    if (conversationId === INBOX) conversationId = (await this.client.openInbox()).id;
    const s = new CallSession(this, { direction: 'out', media, conversation_id: conversationId });
    this.current = s;
    try {
      await s._getMedia();
      const call = await this.client.request('call:invite', { conversation_id: conversationId, media });
      s._update(call);
      this.sessions.set(call.id, s);
      this.dispatchEvent(new CustomEvent('outgoing', { detail: s }));
      if (call.state === 'ended') s._end(call.reason || 'missed');
      return s;
    } catch (e) {
      s._cleanup();
      if (this.current === s) this.current = null;
      throw e;
    }
  }

  _incoming(call) {
    if (this.sessions.has(call.id)) return;
    const s = new CallSession(this, { ...call, direction: 'in' });
    this.sessions.set(call.id, s);
    if (!this.current) this.current = s;
    this.dispatchEvent(new CustomEvent('incoming', { detail: s }));
  }

  _done(s) {
    this.sessions.delete(s.id);
    if (this.current === s) this.current = null;
  }
}

export class CallSession extends EventTarget {
  constructor(calls, call) {
    super();
    this.calls = calls;
    this.client = calls.client;
    this.direction = call.direction;
    this.state = 'ringing';
    this.reason = '';
    this.muted = false;
    this.cameraOff = false;
    this.remoteMuted = false; // the other side's switches, over the call's data channel
    this.remoteCameraOff = false;
    this.remoteSharing = false;
    this.sharing = false;
    this.recording = false;
    this.cameraCount = 0;
    this.quality = 'good';
    this.localStream = new MediaStream();
    this.remoteStream = new MediaStream();
    this._early = []; // negotiation that arrived before our connection existed
    this._chain = Promise.resolve(); // negotiation is handled one message at a time, in order
    this._update(call);
  }

  _update(call) {
    this.id = call.id || this.id;
    this.conversationId = call.conversation_id || this.conversationId;
    this.media = call.media || this.media;
    this.polite = call.polite ?? this.polite ?? this.direction === 'in';
    const me = this.client.me?.id;
    if (call.caller_id) this.peerId = call.caller_id === me ? call.callee_id || this.peerId : call.caller_id;
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  // --- the user's actions ---

  async accept() {
    if (this.direction !== 'in' || this.state !== 'ringing') return;
    this.calls.current = this;
    this._accepting = true; // call:answered may arrive before the reply: it is ours
    try {
      await this._getMedia();
    } catch (e) {
      this._accepting = false; // still ringing: allow the camera and accept again
      throw e;
    }
    try {
      const call = await this.client.request('call:accept', { call_id: this.id });
      this._update(call);
    } catch (e) {
      this._end('failed');
      throw e;
    }
    // The caller makes the first offer; we connect when it arrives. Two
    // offers crossing (glare) can leave Chrome without ICE candidates.
    this._setState('connecting');
    this._awaitOffer = true;
    if (this._early.some(([ev]) => ev === 'call:offer')) this._connect();
  }

  reject() {
    if (this.state !== 'ringing') return;
    this.client.request('call:reject', { call_id: this.id }).catch(() => {});
    this._end('declined');
  }

  hangup() {
    if (this.state === 'ended') return;
    const event = this.state === 'ringing' && this.direction === 'out' ? 'call:cancel' : this.state === 'ringing' ? 'call:reject' : 'call:end';
    this.client.request(event, { call_id: this.id }).catch(() => {});
    this._end(this.state === 'ringing' ? (this.direction === 'out' ? 'missed' : 'declined') : 'ended');
  }

  // setMuted stops (or resumes) sending our audio: the sender carries no
  // track at all, so no packets leave.
  setMuted(on) {
    this.muted = !!on;
    const t = this.localStream.getAudioTracks()[0];
    if (t) t.enabled = !on;
    this._sender('audio')?.replaceTrack(on ? null : t || null);
    this._changed();
  }

  setCameraOff(on) {
    this.cameraOff = !!on;
    const t = this._camera;
    if (t) t.enabled = !on;
    if (!this.sharing) this._sender('video')?.replaceTrack(on ? null : t || null);
    this._changed();
  }

  // switchCamera moves to the next camera (front/back on phones).
  async switchCamera() {
    const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    if (cams.length < 2) return;
    const cur = this._camera?.getSettings().deviceId;
    const next = cams[(cams.findIndex((c) => c.deviceId === cur) + 1) % cams.length];
    const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: next.deviceId }, width: { ideal: 1280 }, height: { ideal: 720 } } });
    const track = s.getVideoTracks()[0];
    this._replaceLocal(this._camera, track);
    this._camera?.stop();
    this._camera = track;
    track.enabled = !this.cameraOff;
    if (!this.sharing && !this.cameraOff) await this._sender('video')?.replaceTrack(track);
    this._changed();
  }

  // shareScreen sends the screen instead of the camera; stopSharing (or
  // the browser's own "stop sharing") brings the camera back.
  async shareScreen() {
    if (this.sharing) return;
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      throw new ParleyError('media_denied', 'screen sharing was not allowed');
    }
    const screen = s.getVideoTracks()[0];
    this._screen = screen;
    screen.addEventListener('ended', () => this.stopSharing());
    const sender = this._sender('video');
    if (sender) await sender.replaceTrack(screen);
    else this.pc?.addTrack(screen, this.localStream); // an audio call shares too
    this._replaceLocal(this._camera, screen);
    this.sharing = true;
    this._changed();
  }

  async stopSharing() {
    if (!this.sharing) return;
    const screen = this._screen;
    this._screen = null;
    this.sharing = false;
    screen?.stop();
    this._replaceLocal(screen, this._camera);
    await this._sender('video')?.replaceTrack(this.cameraOff ? null : this._camera || null);
    this._changed();
  }

  // --- recording: remote video full frame, ours as picture-in-picture,
  // both voices mixed, as WebM ---

  startRecording() {
    if (this.recording || this.state !== 'active') return;
    const canvas = document.createElement('canvas');
    canvas.width = 1280;
    canvas.height = 720;
    const g = canvas.getContext('2d');
    const remote = videoOf(this.remoteStream);
    const local = videoOf(this.localStream);
    const draw = () => {
      g.fillStyle = '#0f172a';
      g.fillRect(0, 0, canvas.width, canvas.height);
      fit(g, remote, 0, 0, canvas.width, canvas.height);
      if (local.videoWidth) {
        const w = 320;
        const h = (w * local.videoHeight) / local.videoWidth;
        g.save();
        g.beginPath();
        g.roundRect?.(canvas.width - w - 24, canvas.height - h - 24, w, h, 12);
        g.clip();
        fit(g, local, canvas.width - w - 24, canvas.height - h - 24, w, h);
        g.restore();
      }
    };
    const timer = setInterval(draw, 1000 / 30); // not rAF: it stops in background tabs
    const ac = new AudioContext();
    const mix = ac.createMediaStreamDestination();
    for (const s of [this.remoteStream, this.localStream]) {
      if (s.getAudioTracks().length) ac.createMediaStreamSource(new MediaStream(s.getAudioTracks())).connect(mix);
    }
    const out = new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...mix.stream.getAudioTracks()]);
    const type = ['video/webm;codecs=vp8,opus', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t));
    const rec = new MediaRecorder(out, type ? { mimeType: type } : undefined);
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.start(1000);
    this._rec = { rec, chunks, timer, ac, remote, local };
    this.recording = true;
    this._changed();
  }

  stopRecording() {
    const r = this._rec;
    if (!r) {
      const last = this._lastRecording || Promise.resolve(null);
      this._lastRecording = null;
      return last;
    }
    this._rec = null;
    this.recording = false;
    this._changed();
    return new Promise((resolve) => {
      r.rec.onstop = () => {
        clearInterval(r.timer);
        r.ac.close().catch(() => {});
        resolve(new Blob(r.chunks, { type: 'video/webm' }));
      };
      r.rec.stop();
    });
  }

  static download(blob, name = `call-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}.webm`) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }

  // --- statistics ---

  // stats reads the connection's numbers now; rates are over the second
  // since the last periodic reading (the 'stats' event).
  async stats(advance = false) {
    const out = { rttMs: 0, lossPct: 0, bitrateInKbps: 0, bitrateOutKbps: 0, framesDecoded: 0, framesPerSecond: 0,
      width: 0, height: 0, audioPacketsReceived: 0, audioPacketsSent: 0, candidateType: '', availableOutKbps: 0, bytesSent: 0, bytesReceived: 0 };
    if (!this.pc) return out;
    const report = await this.pc.getStats();
    let bytesIn = 0, bytesOut = 0, lost = 0, received = 0, pairId = '';
    report.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        bytesIn += r.bytesReceived || 0;
        lost += Math.max(0, r.packetsLost || 0);
        received += r.packetsReceived || 0;
        if (r.kind === 'video') {
          out.framesDecoded = r.framesDecoded || 0;
          out.framesPerSecond = r.framesPerSecond || 0;
          out.width = r.frameWidth || 0;
          out.height = r.frameHeight || 0;
        } else if (r.kind === 'audio') {
          out.audioPacketsReceived = r.packetsReceived || 0;
        }
      } else if (r.type === 'outbound-rtp') {
        bytesOut += r.bytesSent || 0;
        if (r.kind === 'audio') out.audioPacketsSent = r.packetsSent || 0;
      } else if (r.type === 'transport' && r.selectedCandidatePairId) {
        pairId = r.selectedCandidatePairId;
      }
    });
    const pair = pairId ? report.get(pairId) : [...report.values()].find((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded');
    if (pair) {
      out.rttMs = Math.round((pair.currentRoundTripTime || 0) * 1000);
      out.availableOutKbps = Math.round((pair.availableOutgoingBitrate || 0) / 1000);
      out.candidateType = report.get(pair.localCandidateId)?.candidateType || '';
    }
    const now = performance.now();
    const prev = this._prevStats;
    if (prev) {
      const secs = (now - prev.at) / 1000 || 1;
      out.bitrateInKbps = Math.round(((bytesIn - prev.bytesIn) * 8) / secs / 1000);
      out.bitrateOutKbps = Math.round(((bytesOut - prev.bytesOut) * 8) / secs / 1000);
      const dl = lost - prev.lost;
      const dr = received - prev.received;
      out.lossPct = dl + dr > 0 ? Math.round((1000 * dl) / (dl + dr)) / 10 : 0;
    }
    if (advance) this._prevStats = { at: now, bytesIn, bytesOut, lost, received };
    out.bytesSent = bytesOut;
    out.bytesReceived = bytesIn;
    return out;
  }

  async _tick() {
    if (this.state !== 'active' && this.state !== 'connecting') return;
    let s;
    try {
      s = await this.stats(true);
    } catch {
      return;
    }
    this.quality = s.lossPct > 8 || s.rttMs > 800 ? 'poor' : s.lossPct > 2 || s.rttMs > 300 ? 'fair' : 'good';
    this.dispatchEvent(new CustomEvent('stats', { detail: { stats: s, quality: this.quality } }));
    this._adapt(s);
  }

  // _adapt lowers the video we send while the link shows loss or too
  // little bandwidth, and raises it back after it has been fine for a while.
  async _adapt(s) {
    const sender = this._sender('video');
    if (!sender?.track) return;
    const cap = (this.client.limits?.max_call_bitrate_kbps || 2500) * 1000;
    const p = sender.getParameters();
    if (!p.encodings?.length) return;
    const e = p.encodings[0];
    const cur = e.maxBitrate || cap;
    const scale = e.scaleResolutionDownBy || 1;
    const tight = s.lossPct > 5 || (s.availableOutKbps > 0 && s.availableOutKbps * 1000 < cur * 0.8);
    this._good = tight ? 0 : (this._good || 0) + 1;
    let next = null;
    if (tight && (cur > MIN_BITRATE || scale < 4)) next = { maxBitrate: Math.max(MIN_BITRATE, Math.round(cur * 0.7)), scaleResolutionDownBy: Math.min(4, scale * 1.5) };
    else if (this._good >= 10 && (cur < cap || scale > 1)) next = { maxBitrate: Math.min(cap, Math.round(cur * 1.25)), scaleResolutionDownBy: Math.max(1, scale / 1.5) };
    else if (!e.maxBitrate) next = { maxBitrate: cap, scaleResolutionDownBy: scale };
    if (!next) return;
    if (next.maxBitrate === e.maxBitrate && next.scaleResolutionDownBy === scale) return;
    this._good = 0;
    Object.assign(e, next);
    try {
      await sender.setParameters(p);
    } catch { /* renegotiating: next tick */ }
  }

  // --- the connection ---

  async _getMedia() {
    const video = this.media === 'video';
    let s;
    try {
      s = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: video ? { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' } : false,
      });
    } catch (e) {
      throw new ParleyError('media_denied', `the ${video ? 'camera or microphone' : 'microphone'} is not available: ${e.message}`);
    }
    this.localStream = s;
    this._camera = s.getVideoTracks()[0] || null;
    try {
      this.cameraCount = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput').length;
    } catch {
      this.cameraCount = this._camera ? 1 : 0;
    }
    this._changed();
  }

  _accepted(call) {
    this._update(call);
    this._connect();
  }

  _answeredElsewhere(call) {
    if (this.direction === 'in' && this.state === 'ringing' && !this._accepting) this._end('answered_elsewhere');
  }

  _connect() {
    if (this.pc) return;
    this._awaitOffer = false;
    this._setState('connecting');
    const pc = new RTCPeerConnection({ iceServers: this.client.iceServers || [], iceTransportPolicy: this.calls.relayOnly ? 'relay' : 'all' });
    this.pc = pc;
    this._makingOffer = false;
    this._ignoreOffer = false;
    pc.onnegotiationneeded = async () => {
      try {
        this._makingOffer = true;
        await pc.setLocalDescription();
        this._send('call:offer', { description: pc.localDescription });
      } catch { /* the state moved on: a later negotiation covers it */ } finally {
        this._makingOffer = false;
      }
    };
    // Both sides open the same channel (negotiated, id 0): it carries
    // mute, camera and sharing switches with no help from the server.
    this._channel = pc.createDataChannel('parley-state', { negotiated: true, id: 0 });
    this._channel.onopen = () => this._sendState();
    this._channel.onmessage = (e) => this._remoteState(e.data);
    pc.onicecandidate = ({ candidate }) => candidate && this._send('call:ice', { candidate });
    pc.ontrack = ({ track }) => {
      for (const old of this.remoteStream.getTracks()) if (old.kind === track.kind) this.remoteStream.removeTrack(old);
      this.remoteStream.addTrack(track);
      this._changed();
    };
    pc.oniceconnectionstatechange = () => this._ice(pc.iceConnectionState);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && this.state === 'connecting') {
        this.startedAt = this.startedAt || new Date();
        this._setState('active');
        this._stats = setInterval(() => this._tick(), STATS_EVERY_MS);
      }
    };
    for (const t of this.localStream.getTracks()) pc.addTrack(t, this.localStream);
    for (const [ev, sig] of this._early.splice(0)) this._signal(ev, sig);
  }

  _signal(event, sig) {
    if (!this.pc) {
      this._early.push([event, sig]);
      if (this._awaitOffer && event === 'call:offer') this._connect();
      return;
    }
    // One at a time: a candidate must not overtake the offer it belongs to.
    this._chain = this._chain.then(() => this._handle(sig));
  }

  async _handle(sig) {
    const pc = this.pc;
    if (!pc) return;
    try {
      if (sig.description) {
        const d = sig.description;
        const collision = d.type === 'offer' && (this._makingOffer || pc.signalingState !== 'stable');
        this._ignoreOffer = !this.polite && collision;
        if (this._ignoreOffer) return;
        await pc.setRemoteDescription(d); // a polite side rolls its own offer back here
        if (d.type === 'offer') {
          await pc.setLocalDescription();
          this._send('call:answer', { description: pc.localDescription });
        }
      } else if (sig.candidate) {
        try {
          await pc.addIceCandidate(sig.candidate);
        } catch (e) {
          if (!this._ignoreOffer) throw e;
        }
      }
    } catch { /* a late or stale message: the next negotiation repairs it */ }
  }

  _ice(state) {
    clearTimeout(this._iceTimer);
    if (state === 'failed') {
      this._restartIce();
      this._iceTimer = setTimeout(() => {
        if (this.state === 'ended') return;
        this.client.request('call:end', { call_id: this.id }).catch(() => {});
        this._end('failed');
      }, FAILED_GIVE_UP_MS);
    } else if (state === 'disconnected') {
      this._iceTimer = setTimeout(() => this._restartIce(), DISCONNECTED_RESTART_MS);
    }
  }

  // _rejoin takes the call to this device's new connection, then restarts ICE.
  async _rejoin() {
    try {
      await this.client.request('call:rejoin', { call_id: this.id });
      this._restartIce();
    } catch {
      this._end('ended');
    }
  }

  _peerRejoined() {
    this._restartIce();
  }

  // _restartIce renegotiates from the caller's side only, so that the two
  // sides never offer at once.
  _restartIce() {
    if (!this.polite) this.pc?.restartIce();
  }

  _send(event, data) {
    this.client.request(event, { call_id: this.id, ...data }).catch(() => {});
  }

  _sender(kind) {
    return this.pc?.getTransceivers().find((t) => t.receiver.track?.kind === kind && t.direction !== 'inactive')?.sender;
  }

  _replaceLocal(oldTrack, track) {
    if (oldTrack) this.localStream.removeTrack(oldTrack);
    if (track && !this.localStream.getTracks().includes(track)) this.localStream.addTrack(track);
  }

  _changed() {
    this._sendState();
    this.dispatchEvent(new CustomEvent('stream'));
  }

  // _sendState tells the other side our switches when they change.
  _sendState() {
    const m = JSON.stringify({ muted: this.muted, camera_off: this.cameraOff, sharing: this.sharing });
    if (this._channel?.readyState !== 'open' || m === this._sentState) return;
    this._sentState = m;
    this._channel.send(m);
  }

  _remoteState(data) {
    try {
      const m = JSON.parse(data);
      this.remoteMuted = !!m.muted;
      this.remoteCameraOff = !!m.camera_off;
      this.remoteSharing = !!m.sharing;
    } catch {
      return;
    }
    this.dispatchEvent(new CustomEvent('stream'));
  }

  _end(reason, info) {
    if (this.state === 'ended') return;
    this.reason = reason || 'ended';
    this.durationMs = info?.duration_ms || (this.startedAt ? Date.now() - this.startedAt : 0);
    this._cleanup();
    this._setState('ended');
    this.dispatchEvent(new CustomEvent('ended', { detail: this.reason }));
    this.calls._done(this);
  }

  _cleanup() {
    clearInterval(this._stats);
    clearTimeout(this._iceTimer);
    if (this._rec) this._lastRecording = this.stopRecording(); // still handed out by stopRecording()
    for (const t of this.localStream.getTracks()) t.stop();
    this._camera?.stop();
    this._screen?.stop();
    this.pc?.close();
    this.pc = null;
  }
}

function videoOf(stream) {
  const v = document.createElement('video');
  v.muted = true;
  v.playsInline = true;
  v.srcObject = stream;
  v.play().catch(() => {});
  return v;
}

// fit draws a video into a box, letterboxed.
function fit(g, v, x, y, w, h) {
  if (!v.videoWidth) return;
  const s = Math.min(w / v.videoWidth, h / v.videoHeight);
  const dw = v.videoWidth * s;
  const dh = v.videoHeight * s;
  g.drawImage(v, x + (w - dw) / 2, y + (h - dh) / 2, dw, dh);
}
