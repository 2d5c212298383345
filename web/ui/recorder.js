// Recorder records a voice message in the browser with MediaRecorder
// (Opus in WebM where supported, else what the browser has).
const TYPES = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'];
export const MAX_RECORDING_MS = 5 * 60 * 1000;

export class Recorder {
  static supported() {
    return !!(navigator.mediaDevices?.getUserMedia && globalThis.MediaRecorder);
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = TYPES.find((t) => MediaRecorder.isTypeSupported?.(t));
    this.rec = new MediaRecorder(this.stream, type ? { mimeType: type } : undefined);
    this.chunks = [];
    this.rec.ondataavailable = (e) => e.data.size && this.chunks.push(e.data);
    this.started = performance.now();
    this.rec.start(250);
  }

  elapsed() {
    return this.started ? performance.now() - this.started : 0;
  }

  // stop resolves with the recording and its length.
  stop() {
    return new Promise((resolve) => {
      const durationMs = Math.round(this.elapsed());
      this.rec.onstop = () => {
        this._release();
        const type = (this.rec.mimeType || 'audio/webm').split(';')[0];
        resolve({ blob: new Blob(this.chunks, { type }), durationMs, type });
      };
      this.rec.stop();
    });
  }

  cancel() {
    try {
      this.rec?.stop();
    } catch { /* not started */ }
    this._release();
  }

  _release() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.started = 0;
  }
}
