// Group calls (rooms) and broadcasts (channels) through the server's SFU
// (docs/protocol.md, Rooms and channels).
//
// Importing this module gives every Client a client.rooms (made on first
// use), so the widget, which has no group calls, does not load it.
// client.rooms is a Rooms. join(roomId) enters a group call, publish(name)
// broadcasts on a channel, watch(name) views one; each returns a Room once
// the server has admitted us. A Room has two RTCPeerConnections with the
// SFU: "pub" carries our camera and microphone up (we offer; camera video
// goes as simulcast, three encodings q/h/f at 1/4, 1/2 and full size) and
// "sub" brings everyone else's tracks down (the SFU offers, we answer).
//
// Room events (CustomEvent, detail in brackets):
//   state [state]             joining | connecting | connected | closed
//   participants []           someone joined or left, or their tracks changed
//   track [{participant, track, stream}]  a remote track can be shown (stream: the participant's MediaStream)
//   speakers [ids]            active speakers changed (participant ids, loudest first)
//   recording [on]            the server started or stopped recording the room (room.info.recording)
//   local []                  our own stream or switches changed
//   closed [reason]           the room ended for us: left, closed, shutting_down, expired, failed
//
// When the node that ran the room stops or dies (several nodes), the
// server says room:closed with reason "moved": the Room joins again at
// once (state joining, then connecting), and the room comes back on
// another node; only if that fails does it close.
//
// room.participants: Map participant id → {id, user_id, name, tracks: Map
// track id → RoomTrack, stream: MediaStream, speaking}; room.me is our
// participant id; room.localStream our camera and microphone.

import { ParleyError } from './errors.js';
import { Client } from './client.js';

// The simulcast encodings of camera video: quarter, half and full size.
export const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

const MAX_FAILURES = 4; // connections to the SFU failing in a row before we give up

export class Rooms extends EventTarget {
  constructor(client) {
    super();
    this.client = client;
    this.byId = new Map(); // room id → Room
    this.byChannel = new Map(); // channel name → Room, until its id is known
    const on = (name, f) => client.addEventListener(name, (e) => f(e.detail));
    const route = (d) => this.byId.get(d?.room) || (d?.channel && this.byChannel.get(d.channel));
    on('room:signal', (d) => route(d)?._signal(d));
    for (const ev of ['participant_joined', 'participant_left', 'track_published', 'track_unpublished', 'track_muted', 'active_speakers', 'layers_wanted', 'recording', 'closed']) {
      on('room:' + ev, (d) => route(d)?._event(ev, d));
    }
    // A new WebSocket is a new connection to the server, which took us out
    // of every room when the old one closed: go back in.
    on('connected', () => {
      for (const r of new Set([...this.byId.values(), ...this.byChannel.values()])) if (r._wasIn) r._rejoin();
    });
  }

  // join enters a group call room. publish: false watches only. media:
  // {audio, video} (true, false or MediaTrackConstraints) for what we
  // send, or {stream}: a MediaStream of our own to send instead.
  join(roomId, { publish = true, media } = {}) {
    return new Room(this, { kind: 'room', id: roomId, publish, media })._start();
  }

  // publish broadcasts our camera and microphone on a channel of the account.
  publish(channel, { media } = {}) {
    return new Room(this, { kind: 'channel', channel, publish: true, media })._start();
  }

  // watch views a channel (receive only).
  watch(channel) {
    return new Room(this, { kind: 'channel', channel, publish: false })._start();
  }

  get active() {
    return [...new Set([...this.byId.values(), ...this.byChannel.values()])];
  }
}

// retryDelay is the first wait (ms) before joining a moved room again
// after its node did not answer; it doubles each time.
Rooms.retryDelay = 1000;

export class Room extends EventTarget {
  constructor(rooms, { kind, id, channel, publish, media }) {
    super();
    this.rooms = rooms;
    this.client = rooms.client;
    this.kind = kind;
    this.id = id || '';
    this.channel = channel || '';
    this.publishing = !!publish;
    this.media = media || { audio: true, video: true };
    this.state = 'joining';
    this.me = '';
    this.info = null; // the room as the server described it (protocol Room)
    this.participants = new Map();
    this.speakers = [];
    this.localStream = new MediaStream();
    this.muted = false;
    this.cameraOff = false;
    this.sharing = false;
    this.screenStream = null;
    this._tracksByMid = new Map(); // sub PC mid → {track, participant}
    this._early = []; // signals that came before the PCs
    this._subChain = Promise.resolve();
    this._pubChain = Promise.resolve();
    this._wanted = new Map(); // our track id → the rids somebody watches
  }

  _register() {
    if (this.id) this.rooms.byId.set(this.id, this);
    if (this.channel) this.rooms.byChannel.set(this.channel, this);
  }

  _unregister() {
    if (this.rooms.byId.get(this.id) === this) this.rooms.byId.delete(this.id);
    if (this.rooms.byChannel.get(this.channel) === this) this.rooms.byChannel.delete(this.channel);
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this._fire('state', s);
  }

  _fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _start() {
    if (this.publishing && !this.localStream.getTracks().length) await this._getMedia();
    try {
      await this._enter();
    } catch (e) {
      this._cleanup(true);
      throw e;
    }
    return this;
  }

  // _enter asks the server to let us in and starts both connections.
  async _enter() {
    this._register();
    this._makeSub();
    let r;
    if (this.kind === 'room') r = await this.client.request('room:join', { room: this.id, publish: this.publishing });
    else r = await this.client.request(this.publishing ? 'channel:publish' : 'channel:subscribe', { channel: this.channel });
    this.id = r.room.id;
    this.me = r.participant_id;
    this.info = r.room;
    this._register();
    this._wasIn = true;
    if (r.ice_servers?.length) this._iceServers = r.ice_servers;
    for (const p of r.room.participants || []) if (p.id !== this.me) this._upsert(p);
    this._setState('connecting');
    if (this.publishing) {
      // After a rejoin the room must hear our switches again.
      const a = this.localStream.getAudioTracks()[0];
      const v = this.localStream.getVideoTracks()[0];
      if (this.muted && a) this.client.request('room:mute', { room: this.id, track: a.id, muted: true }).catch(() => {});
      if (this.cameraOff && v) this.client.request('room:mute', { room: this.id, track: v.id, muted: true }).catch(() => {});
      this._makePub();
    }
    for (const sig of this._early.splice(0)) this._signal(sig);
    for (const [type, d] of (this._earlyEvents || []).splice(0)) this._event(type, d);
    this._fire('participants');
  }

  async _getMedia() {
    const want = this.media;
    if (want.stream) { // the caller's own tracks (a canvas, a screen, generated audio)
      this.localStream = want.stream;
      this._fire('local');
      return;
    }
    const video = want.video === false ? false : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 }, ...(typeof want.video === 'object' ? want.video : {}) };
    const audio = want.audio === false ? false : { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...(typeof want.audio === 'object' ? want.audio : {}) };
    try {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (e) {
      throw new ParleyError('media_denied', `the ${video ? 'camera or microphone' : 'microphone'} is not available: ${e.message}`);
    }
    this._fire('local');
  }

  _pcConfig() {
    let relay = false;
    try {
      relay = localStorage.getItem('parley.ice') === 'relay';
    } catch { /* no storage */ }
    return { iceServers: this._iceServers || this.client.iceServers || [], iceTransportPolicy: relay ? 'relay' : 'all', bundlePolicy: 'max-bundle' };
  }

  // --- sub: the SFU offers everyone else's tracks, we answer ---

  _makeSub() {
    if (this.sub) return;
    const pc = new RTCPeerConnection(this._pcConfig());
    this.sub = pc;
    pc.onicecandidate = ({ candidate }) => candidate && this._send({ pc: 'sub', kind: 'candidate', candidate: candidate.toJSON() });
    pc.ontrack = (e) => this._remoteTrack(e);
    pc.onconnectionstatechange = () => this._pcState();
  }

  async _subOffer(sdp) {
    const pc = this.sub;
    this._mapMids(sdp);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription();
    this._send({ pc: 'sub', kind: 'answer', sdp: pc.localDescription.sdp });
    this._fire('participants');
  }

  // _mapMids reads, from the SFU's offer, which track (a=msid: the
  // publisher's participant id and track id) each m-section carries.
  _mapMids(sdp) {
    for (const sec of sdp.split(/\r?\nm=/).slice(1)) {
      const mid = /\na=mid:(\S+)/.exec(sec)?.[1];
      const msid = /\na=msid:(\S+) (\S+)/.exec(sec);
      if (mid && msid) this._tracksByMid.set(mid, { participant: msid[1], track: msid[2] });
    }
  }

  _remoteTrack(e) {
    const at = this._tracksByMid.get(e.transceiver?.mid) || { participant: e.streams[0]?.id, track: e.track.id };
    let p = this.participants.get(at.participant);
    if (!p) p = this._upsert({ id: at.participant, tracks: [] });
    for (const old of p.stream.getTracks()) if (old.kind === e.track.kind && old.readyState === 'ended') p.stream.removeTrack(old);
    for (const old of p.stream.getTracks()) if (old.kind === e.track.kind) p.stream.removeTrack(old); // one of each kind per tile
    p.stream.addTrack(e.track);
    p.remoteTracks.set(at.track, e.track);
    e.track.addEventListener('ended', () => {
      p.stream.removeTrack(e.track);
      this._fire('participants');
    });
    const info = p.tracks.get(at.track) || { id: at.track, participant_id: p.id, kind: e.track.kind };
    this._fire('track', { participant: p, track: info, stream: p.stream });
  }

  // --- pub: our tracks, we offer, the SFU answers ---

  _makePub() {
    if (this.pub) return;
    const pc = new RTCPeerConnection(this._pcConfig());
    this.pub = pc;
    pc.onicecandidate = ({ candidate }) => candidate && this._send({ pc: 'pub', kind: 'candidate', candidate: candidate.toJSON() });
    pc.onconnectionstatechange = () => this._pcState();
    pc.onnegotiationneeded = () => this._offerPub();
    const audio = this.localStream.getAudioTracks()[0];
    const video = this.localStream.getVideoTracks()[0];
    if (audio) this._audioTx = pc.addTransceiver(audio, { direction: 'sendonly', streams: [this.localStream] });
    if (video) {
      this._videoTrackId = video.id;
      const s = video.getSettings();
      // Simulcast needs a picture big enough to halve twice.
      const simulcast = this.kind === 'room' || this.media.simulcast !== false;
      this._videoTx = pc.addTransceiver(video, {
        direction: 'sendonly', streams: [this.localStream],
        sendEncodings: simulcast && (s.width || 1280) >= 320 ? SIMULCAST.map((e) => ({ ...e })) : [{ maxBitrate: 1_500_000 }],
      });
    }
    if (this.muted) this._applyMute();
    if (this.cameraOff) this._applyCamera();
    const screen = this.sharing && this.screenStream?.getVideoTracks()[0];
    if (screen && this._videoTx) this._videoTx.sender.replaceTrack(screen).catch(() => {});
  }

  // _offerPub sends one offer at a time; a change while one is out is
  // offered again when its answer comes.
  _offerPub() {
    if (this._pubOffering) {
      this._pubAgain = true;
      return;
    }
    this._pubOffering = true;
    this._pubChain = this._pubChain.then(async () => {
      const pc = this.pub;
      if (!pc) return;
      await pc.setLocalDescription();
      this._send({ pc: 'pub', kind: 'offer', sdp: pc.localDescription.sdp });
    }).catch(() => {
      this._pubOffering = false;
    });
  }

  async _pubAnswer(sdp) {
    await this.pub.setRemoteDescription({ type: 'answer', sdp });
    this._pubOffering = false;
    this._reapplyLayers();
    if (this._pubAgain) {
      this._pubAgain = false;
      this._offerPub();
    }
  }

  // --- signals and events from the server ---

  _signal(sig) {
    if (!this.me || (sig.pc === 'pub' && !this.pub)) {
      this._early.push(sig);
      return;
    }
    const run = async () => {
      try {
        if (sig.pc === 'sub') {
          if (sig.kind === 'offer') await this._subOffer(sig.sdp);
          else if (sig.kind === 'candidate' && sig.candidate) await this.sub.addIceCandidate(sig.candidate);
        } else if (sig.pc === 'pub') {
          if (sig.kind === 'answer') await this._pubAnswer(sig.sdp);
          else if (sig.kind === 'candidate' && sig.candidate) await this.pub.addIceCandidate(sig.candidate);
        }
      } catch (e) {
        console.warn('parley room: signal', sig.pc, sig.kind, e?.message || e);
      }
    };
    // One at a time per connection: a candidate must not overtake its description.
    if (sig.pc === 'sub') this._subChain = this._subChain.then(run);
    else this._pubChain = this._pubChain.then(run);
  }

  _event(type, d) {
    if (!this.me && type !== 'closed') {
      // Before our join's reply: the reply's room is newer than these,
      // except for what happens to others after it. Keep them for later.
      (this._earlyEvents ||= []).push([type, d]);
      return;
    }
    switch (type) {
      case 'participant_joined':
        this._upsert(d.participant);
        break;
      case 'participant_left': {
        const p = this.participants.get(d.participant?.id);
        if (p) {
          this.participants.delete(p.id);
          for (const t of p.stream.getTracks()) p.stream.removeTrack(t);
        }
        this.speakers = this.speakers.filter((s) => s !== d.participant?.id);
        break;
      }
      case 'track_published':
        this._prefs?.delete(d.track.id); // a track again (its publisher rejoined): ask afresh
      // falls through
      case 'track_muted': {
        const p = this.participants.get(d.track.participant_id) || this._upsert({ id: d.track.participant_id, tracks: [] });
        p.tracks.set(d.track.id, d.track);
        break;
      }
      case 'track_unpublished': {
        const p = this.participants.get(d.track.participant_id);
        p?.tracks.delete(d.track.id);
        break;
      }
      case 'active_speakers':
        this.speakers = d.speakers || [];
        for (const p of this.participants.values()) p.speaking = this.speakers.includes(p.id);
        this._fire('speakers', this.speakers);
        return;
      case 'layers_wanted':
        this._wanted.set(d.track.id, d.layers || []);
        this._applyLayers(d.track.id, d.layers || []);
        return;
      case 'recording':
        this.info = { ...this.info, recording: !!d.recording };
        this._fire('recording', this.info.recording);
        return;
      case 'closed':
        if (d.reason === 'moved') this._rejoin(); // it comes back on another node
        else this._end(d.reason || 'closed');
        return;
    }
    this._fire('participants');
  }

  _upsert(info) {
    let p = this.participants.get(info.id);
    if (!p) {
      p = { id: info.id, user_id: info.user_id || '', name: info.name || '', tracks: new Map(), remoteTracks: new Map(), stream: new MediaStream(), speaking: false };
      this.participants.set(info.id, p);
    }
    if (info.user_id) p.user_id = info.user_id;
    if (info.name) p.name = info.name;
    if (info.tracks) {
      p.tracks = new Map(info.tracks.map((t) => [t.id, t]));
    }
    return p;
  }

  // _applyLayers turns off the encodings of one of our video tracks that
  // nobody watches (dynacast), and back on when someone does.
  async _applyLayers(trackId, rids) {
    // The SFU names the track by the id it was published with (the
    // camera's), whatever the sender carries now (the screen, or nothing).
    const sender = trackId === this._videoTrackId ? this._videoTx?.sender : this.pub?.getSenders().find((s) => s.track?.id === trackId);
    if (!sender || (sender.track && sender.track.kind !== 'video')) return;
    const p = sender.getParameters();
    if (!p.encodings?.length || !p.encodings[0].rid) return;
    let changed = false;
    for (const e of p.encodings) {
      const on = rids.includes(e.rid);
      if (e.active !== on) {
        e.active = on;
        changed = true;
      }
    }
    if (!changed) return;
    try {
      await sender.setParameters(p);
    } catch { /* renegotiating: applied after the answer */ }
  }

  // --- what the user does ---

  // subscribe asks for the layer of a remote track that fits a tile of
  // width × height device pixels, or for nothing while paused.
  subscribe(trackId, width, height, paused = false) {
    const key = `${Math.round(width)}x${Math.round(height)}:${paused}`;
    (this._prefs ||= new Map());
    if (this._prefs.get(trackId) === key) return Promise.resolve();
    this._prefs.set(trackId, key);
    return this.client.request('room:subscribe', { room: this.id, track: trackId, width: Math.round(width), height: Math.round(height), paused: !!paused }).catch(() => this._prefs.delete(trackId));
  }

  // setMuted stops sending our microphone (no packets leave) and tells the room.
  setMuted(on) {
    this.muted = !!on;
    this._applyMute();
    const t = this.localStream.getAudioTracks()[0];
    if (t && this.me) this.client.request('room:mute', { room: this.id, track: t.id, muted: this.muted }).catch(() => {});
    this._fire('local');
  }

  _applyMute() {
    const t = this.localStream.getAudioTracks()[0];
    if (!t) return;
    t.enabled = !this.muted;
    this._audioTx?.sender.replaceTrack(this.muted ? null : t).catch(() => {});
  }

  setCameraOff(on) {
    this.cameraOff = !!on;
    this._applyCamera();
    const t = this.localStream.getVideoTracks()[0];
    if (t && this.me) this.client.request('room:mute', { room: this.id, track: t.id, muted: this.cameraOff }).catch(() => {});
    this._fire('local');
  }

  _applyCamera() {
    const t = this.localStream.getVideoTracks()[0];
    if (!t) return;
    t.enabled = !this.cameraOff;
    if (!this.sharing) this._videoTx?.sender.replaceTrack(this.cameraOff ? null : t).catch(() => {});
  }

  // shareScreen sends the screen in place of the camera (the same track
  // for the room, in the same simulcast layers); stopSharing, or the
  // browser's own "Stop sharing", brings the camera back.
  async shareScreen() {
    if (this.sharing || !this._videoTx) return;
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch {
      throw new ParleyError('media_denied', 'screen sharing was not allowed');
    }
    const screen = s.getVideoTracks()[0];
    screen.contentHint = 'detail';
    screen.addEventListener('ended', () => this.stopSharing());
    this.screenStream = s;
    this.sharing = true;
    await this._videoTx.sender.replaceTrack(screen);
    this._reapplyLayers();
    this._fire('local');
  }

  async stopSharing() {
    if (!this.sharing) return;
    this.sharing = false;
    for (const t of this.screenStream?.getTracks() || []) t.stop();
    this.screenStream = null;
    const cam = this.localStream.getVideoTracks()[0];
    await this._videoTx?.sender.replaceTrack(this.cameraOff ? null : cam || null).catch(() => {});
    this._reapplyLayers();
    this._fire('local');
  }

  _reapplyLayers() {
    for (const [id, rids] of this._wanted) this._applyLayers(id, rids);
  }

  // leave takes us out of the room.
  leave(reason = 'left') {
    if (this.state === 'closed') return;
    if (this.me) {
      const req = this.kind === 'room' ? ['room:leave', { room: this.id }] : ['channel:leave', { channel: this.channel }];
      this.client.request(...req).catch(() => {});
    }
    this._end(reason);
  }

  // stats reads the sub connection: per remote video, frames decoded and
  // size; and what we send.
  async stats() {
    const out = { videos: [], audioPacketsReceived: 0, bytesReceived: 0, bytesSent: 0, framesEncoded: 0, layersSent: 0 };
    if (this.sub) {
      const report = await this.sub.getStats();
      report.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        out.bytesReceived += r.bytesReceived || 0;
        const at = this._tracksByMid.get(r.mid) || {};
        if (r.kind === 'video') out.videos.push({ mid: r.mid, track: at.track || r.trackIdentifier, participant: at.participant || '', framesDecoded: r.framesDecoded || 0, width: r.frameWidth || 0, height: r.frameHeight || 0 });
        else out.audioPacketsReceived += r.packetsReceived || 0;
      });
    }
    if (this.pub) {
      const report = await this.pub.getStats();
      report.forEach((r) => {
        if (r.type !== 'outbound-rtp') return;
        out.bytesSent += r.bytesSent || 0;
        if (r.kind === 'video') {
          out.framesEncoded += r.framesEncoded || 0;
          if (r.bytesSent > 0) out.layersSent++;
        }
      });
    }
    return out;
  }

  // --- connection state, reconnects, the end ---

  _pcState() {
    const states = [this.sub, this.pub].filter(Boolean).map((pc) => pc.connectionState);
    if (states.includes('connected') && this.state === 'connecting') this._setState('connected');
    clearTimeout(this._failTimer);
    if (this.state === 'connected') this._failures = 0;
    if (states.includes('failed')) {
      // Try again a few times, further apart each time, then give up.
      this._failures = (this._failures || 0) + 1;
      if (this._failures > MAX_FAILURES) this._failTimer = setTimeout(() => this.leave('failed'), 0);
      else this._failTimer = setTimeout(() => this._rejoin(), 1000 * 2 ** (this._failures - 1));
    }
  }

  _send(data) {
    this.client.request('room:signal', { room: this.id, ...data }).catch(() => {});
  }

  // _rejoin enters again as a new participant (after the WebSocket came
  // back, or a connection failed), keeping our camera and microphone.
  async _rejoin() {
    if (this.state === 'closed' || this._rejoining) return;
    this._rejoining = true;
    this._closePCs();
    this.me = '';
    this.participants.clear();
    this._tracksByMid.clear();
    this._early = [];
    this._earlyEvents = [];
    this._prefs?.clear();
    this._wanted.clear(); // the SFU says again what it wants of the new connection
    this._setState('joining');
    this._fire('participants');
    try {
      await this._enter();
      this._moveTries = 0;
    } catch (e) {
      // Our own connection is down (our node stopped too): the new
      // connection brings us back in (Rooms' 'connected').
      if (e.code === 'offline' || e.code === 'shutting_down') return;
      // The room's node just died and its lease has not run out yet, or a
      // channel closed under us: try again, further apart each time.
      const again = (e.code === 'node_unavailable' || e.code === 'conflict') && (this._moveTries = (this._moveTries || 0) + 1) <= MAX_FAILURES;
      if (again) {
        this._failTimer = setTimeout(() => this._rejoin(), Rooms.retryDelay * 2 ** (this._moveTries - 1));
      } else this._end(e.code === 'not_found' ? 'closed' : 'failed');
    } finally {
      this._rejoining = false;
    }
  }

  _closePCs() {
    this.sub?.close();
    this.pub?.close();
    this.sub = this.pub = null;
    this._audioTx = this._videoTx = null;
    this._pubOffering = this._pubAgain = false;
    this._subChain = Promise.resolve();
    this._pubChain = Promise.resolve();
  }

  _cleanup(stopMedia) {
    clearTimeout(this._failTimer);
    this._closePCs();
    this._unregister();
    if (stopMedia) for (const t of [...this.localStream.getTracks(), ...(this.screenStream?.getTracks() || [])]) t.stop();
  }

  _end(reason) {
    if (this.state === 'closed') return;
    this.reason = reason;
    this._cleanup(true);
    this._setState('closed');
    this._fire('closed', reason);
  }
}

Object.defineProperty(Client.prototype, 'rooms', {
  configurable: true,
  get() {
    const rooms = new Rooms(this);
    Object.defineProperty(this, 'rooms', { value: rooms, configurable: true });
    return rooms;
  },
});
