// Types for the vqcodec web package (index.js).

export type Backend = 'auto' | 'webgpu' | 'cpu';

/** What kind of failure an error is: branch on it (the message is for people). */
export type ErrorKind = 'Format' | 'Damaged' | 'Limits' | 'Unsupported' | 'ModelMismatch' | 'Config'
  | 'Device' | 'Network' | 'Input' | 'Internal';

/** Every failure of the package is a VqError, or a TypeError / RangeError with a `kind` for bad arguments. */
export declare class VqError extends Error {
  readonly name: 'VqError';
  readonly kind: ErrorKind;
}

/** The decoder's limits (also the largest frame the encoder takes), from the codec itself. */
export declare const limits: Readonly<{ maxWidth: number; maxHeight: number; maxPixels: number; maxFrames: number;
  maxChunkBytes: number; maxStreamBytes: number; maxCodebookBytes: number }>;
/** The encoder's defaults, from the codec itself. */
/** Defaults for a live source (`VqVideoEncoder.configure`), and `fileKeyInterval` / `fileLookahead`, what `compressVideo` uses for a whole file. */
export declare const encoderDefaults: Readonly<{ framerate: number; quality: number; keyInterval: number; sceneCut: boolean; effort: number; lookahead: number; aq: number; search: 'host' | 'device'; slices: number; fileKeyInterval: number; fileLookahead: number }>;
export type Model = 'base' | 'lite';
export type CodecState = 'unconfigured' | 'configured' | 'closed';

export interface VqEncoderConfig {
  width: number;
  height: number;
  /** Frames per second (default 30). */
  framerate?: number;
  /** Target bitrate in bit/s (per-frame rate control). Exclusive with `quality`. */
  bitrate?: number;
  /** Constant quality 0..=100 (default 80); 81..=100 are the high-fidelity steps: the model's enhancement lifts its quality ceiling, for several times the bits and slower encoding. */
  quality?: number;
  /** Most frames between keyframes (default 60). */
  keyInterval?: number;
  /** Start keyframes at scene cuts (default true). */
  sceneCut?: boolean;
  /** Search effort 1..=8 (default 1, the fastest): smaller files at equal PSNR (not at a fixed quality) for more encoding time. */
  effort?: number;
  /** Frames the encoder looks ahead, 0..=250 (default 0: none). It then outputs chunks a window at
   * a time (flush() outputs the rest): smaller files at equal PSNR where a still background
   * is reused, for a second search per frame; the keyframe interval is the useful window. */
  lookahead?: number;
  /** Adaptive quantisation strength, 0..=1 (default 0.15; 0: off): more bits where the picture is
   * flat and errors show, fewer in busy texture. */
  aq?: number;
  /** Where the encoder makes its choices: 'host' (default: on the CPU, position after position
   * with the entropy coder's exact costs: the smallest files) or 'device' (every position of a
   * frame at once on the GPU: 11–23% larger files at equal PSNR-Y; on WebGPU about twice as
   * fast for 1080p frames, slower for small ones; slower on the CPU; whole-position motion
   * only; no lookahead or bitrate with it). */
  search?: 'host' | 'device';
  /** Slices per frame, 0..=16 (default 0: one per 8,192 latent positions, so one up to 720x576
   * and four at 1920x1080): bands of rows coded apart, which a decoder with several cores
   * decodes at once (the browser's decoders run them in turn); about +0.5% bytes at 1080p. */
  slices?: number;
  /** On the CPU, how many workers besides the encoder's own run the encoder network, one frame each, while the encoder codes in order (0..=8; default: one per core up to 4, none on one core). The same stream for any number; ignored on WebGPU and with search 'device'. */
  cpuWorkers?: number;
  /** 'auto' (default): WebGPU when the browser gives an adapter, else the CPU. */
  backend?: Backend;
  /** Default: 'lite' (or the codebook's model): as good as base at equal PSNR-Y on our clips, 4-5x faster on the CPU, and its weights are 0.2 MB against 1.3 MB; 'base' makes 7-15% smaller files at equal MS-SSIM. */
  model?: Model;
  /** Codebook levels adapted to the footage (trainCodebook / Codebook.from); the stream carries
   * it in its header. configure() throws a TypeError if it was made for another model. */
  codebook?: Codebook | null;
}

export interface FrameStats {
  bytes: number;
  quality: number;
  /** Levels coded: the deepest any position of the frame goes. */
  levels: number;
  /** Mean indices coded per position (below `levels` where positions ended early, copy the previous frame, or predict from it from a finer level on). */
  depth: number;
  lambda: number;
  /** Fraction of the positions that copy the previous frame's latent (0 for keyframes). */
  copied: number;
  /** Fraction of the positions that code a residual against the previous frame's latent. */
  inter: number;
  /** Fraction of the positions whose prediction is shifted one position (motion). */
  moved: number;
  latent_mse: number;
  scene_cut: boolean;
  /** The bitrate target in kbit/s, or null at constant quality. */
  target_kbps: number | null;
  /** The stream's rate so far (header included), kbit/s: compare it with the target, which can be missed. */
  achieved_kbps: number;
  /** Where the chunk's bits went, by syntax element: code lengths in bits under the entropy
   * models (the chunk header and the coder's flush, a few bytes, are not in them). */
  bits: SymbolBits;
}

export interface SymbolBits {
  /** Delta frames' modes (copy, intra, inter). */
  mode: number;
  /** Motions of copy and inter positions. */
  motion: number;
  /** Stop flags (how deep each position codes). */
  stop: number;
  /** Code indices at keyframe positions. */
  index_key: number;
  /** Code indices at delta frames' intra positions. */
  index_intra: number;
  /** Code indices at inter positions (the residual against the prediction). */
  index_inter: number;
}

export interface VqEncodedChunk {
  type: 'key' | 'delta';
  /** Microseconds. */
  timestamp: number;
  duration: number;
  byteLength: number;
  /** The chunk's bytes (header + payload), as stored in a `.vqc` file. */
  data: Uint8Array;
  copyTo(destination: ArrayBufferView | ArrayBuffer): void;
}

export interface VqDecoderConfigOut {
  codec: string;
  codedWidth: number;
  codedHeight: number;
  /** The `.vqc` stream header: write it first; pass it to VqVideoDecoder.configure. */
  description: Uint8Array;
}

export interface VqEncoderInfo {
  /** Becomes 'cpu' (with the reason) if the WebGPU device is lost mid-stream: the CPU takes
   * over with the same model, from a keyframe, without dropping a frame. */
  backend: 'webgpu' | 'cpu';
  reason: string;
  modelId: string;
  model: Model;
  /** The id of the adapted codebook in use, or null. */
  codebook: string | null;
  /** Workers running the encoder network beside the encoder's own (`cpuWorkers` on the CPU; 0 on WebGPU and with search 'device'). */
  renderWorkers: number;
}

export interface VqVideoEncoderInit {
  output(chunk: VqEncodedChunk, metadata: { decoderConfig: VqDecoderConfigOut } | undefined,
    extra: { stats: FrameStats; tokens: Uint16Array }): void;
  error(error: Error): void;
}

/** Dispatches `dequeue` (and calls `ondequeue`) each time a queued frame is done, as WebCodecs does. */
export declare class VqVideoEncoder extends EventTarget {
  constructor(init: VqVideoEncoderInit);
  readonly state: CodecState;
  readonly encodeQueueSize: number;
  ondequeue: ((event: Event) => void) | null;
  readonly info: VqEncoderInfo | null;
  static isConfigSupported(config: VqEncoderConfig): Promise<{ supported: boolean; config: VqEncoderConfig; reason?: string; kind?: ErrorKind }>;
  configure(config: VqEncoderConfig): void;
  encode(frame: VideoFrame | ImageData | ImageBitmap | HTMLCanvasElement | OffscreenCanvas | HTMLVideoElement | HTMLImageElement,
    options?: { keyFrame?: boolean; timestamp?: number }): void;
  flush(): Promise<void>;
  reset(): void;
  close(): void;
}

export interface VqDecoderConfig {
  /** 'vqc1.base' or 'vqc1.lite' (informative: the model id in the stream's header decides, and only that model is loaded). */
  codec: string;
  description: BufferSource;
  backend?: Backend;
  /** What `output` gets: ImageData (the default) or VideoFrame. A VideoFrame is made in the decoder's worker of the module's memory, without the RGBA array an ImageData needs: the cheaper output for large frames. */
  output?: 'imagedata' | 'videoframe';
  /** On WebGPU, a stream that reads its symbols in a worker of its own (`cpuWorkers`, below) may have its frames rendered by up to 4 GPU render workers in turn (0..=4; default 3 for frames of 1920×1080 or more on 8 cores or more, else 0): each a worker with the WebGPU module, the model and a GPU device of its own (~25 MiB of GPU memory more each at 1080p), so that no one thread drives every frame through the device — through Dawn on an H100, base 1920×1080 6.5–7.1 → 4.7 ms a frame with 3. Should one fail, the decoder renders that frame and the rest on its own device, its symbols worker going on. The same frames for any number. */
  gpuWorkers?: number;
  /** On the CPU, how many workers besides the decoder's own run the decoder network, one frame each (0..=8; default: one per core up to 4, none on one core). On WebGPU, any number above 0 lets a stream of 1280×720 pixels or more (width × height ≥ 921,600) read its symbols in one worker beside the decoder's own, the next frame's while the device makes this one; and any number n above 1 lets that worker read the frames' slices in up to n − 1 slice workers (at most the stream's slices; by default only as many as the cores beside the page, the decoder's worker and the symbols worker). The same frames for any number. */
  cpuWorkers?: number;
}

export interface VqDecodedMeta {
  type: 'key' | 'delta';
  timestamp: number;
  pts: number;
  levels: number;
  /** `levels × height × width` code indices of the latent grid; 65535 where a position coded no index at that level (its depth ended, it copies the previous frame, or it predicts from it from a finer level on). In delta frames the indices refine the previous frame's latent: they are not a picture on their own. */
  tokens: Uint16Array;
}

export interface VqVideoDecoderInit {
  /**
   * A decoded frame, or `null` with `{error}` when a chunk was damaged (the frames up to the
   * next keyframe are lost; the decoder stays usable).
   */
  output(frame: ImageData | VideoFrame | null, meta: VqDecodedMeta | { error: Error; timestamp?: number }): void;
  error(error: Error): void;
}

/** Dispatches `dequeue` (and calls `ondequeue`) each time a queued chunk is done, as WebCodecs does. */
export declare class VqVideoDecoder extends EventTarget {
  constructor(init: VqVideoDecoderInit);
  readonly state: CodecState;
  readonly decodeQueueSize: number;
  ondequeue: ((event: Event) => void) | null;
  /** `renderWorkers`: workers running the decoder network (on the CPU); `symbolsWorker`: whether a worker of its own reads the stream's symbols (on WebGPU, large frames; false again once the decoder's own worker or the CPU took over); `sliceWorkers`: workers of that symbols worker reading the frames' slices (up to `cpuWorkers` − 1, at most the stream's slices; 0 again after a takeover); `gpuWorkers`: GPU render workers rendering its frames (`gpuWorkers` where a symbols worker reads them, else 0; 0 again after a takeover). */
  readonly info: { width: number; height: number; framerate: number; model: Model; backend: string; reason: string; modelId: string; renderWorkers: number; symbolsWorker: boolean; sliceWorkers: number; gpuWorkers: number } | null;
  static isConfigSupported(config: VqDecoderConfig): Promise<{ supported: boolean; config: VqDecoderConfig; reason?: string }>;
  configure(config: VqDecoderConfig): void;
  decode(chunk: { type?: string; timestamp?: number; data?: Uint8Array; byteLength?: number; copyTo?(dest: Uint8Array): void }): void;
  flush(): Promise<void>;
  reset(): void;
  close(): void;
}

export interface VqStreamParts {
  /** The header with its codebook block, if any (a decoder's `description`). */
  header: Uint8Array;
  width: number;
  height: number;
  framerate: number;
  /** Frames the header announces (0: unknown). */
  frameCount: number;
  /** The id of the weights the stream was made with. */
  modelId: string;
  /** Every chunk in order; a damaged span has `type: null` and its `error` (give it to the decoder all the same). */
  chunks: { type: 'key' | 'delta' | null; pts: number; data: Uint8Array; error?: VqError }[];
  /** Why the file ends inside a chunk (kind 'Damaged'), or null when it ends cleanly. */
  truncated: VqError | null;
  /** Whether the header carries an adapted codebook. */
  codebook: boolean;
}

/** Throws a VqError (kind 'Format', 'Damaged', 'Limits' or 'Unsupported') when the header cannot be read. */
export declare function splitStream(bytes: ArrayBuffer | Uint8Array): VqStreamParts;

export interface CompressOptions extends Partial<VqEncoderConfig> {
  maxFrames?: number;
  signal?: AbortSignal;
}

/** Compresses a video file frame for frame, at its own frame rate (measured) and size (or `width` / `height`, aspect kept when one is given). */
export declare function compressVideo(source: Blob, options?: CompressOptions,
  onProgress?: (p: { frame: number; total: number; bytes: number; kbps: number }) => void): Promise<Blob>;

/** The frame rate of a `<video>`'s source, measured by playing a few frames (snapped to common rates). */
export declare function videoFrameRate(video: HTMLVideoElement, fallback?: number): Promise<number>;

/** Seeks a paused `<video>` to `t` seconds; resolves once the frame there is the one `drawImage` draws (`seeked` and the frame's presentation). */
export declare function seekFrame(video: HTMLVideoElement, t: number): Promise<void>;

/**
 * Plays a `.vqc` file into a canvas, decoding as it plays: at most `ahead` frames are decoded
 * ahead of the one shown (default: 64 MiB of RGBA, 2–16 frames), so memory does not grow with
 * the file. When decoding is slower than the frame rate, playback waits for the next frame.
 */
export declare class VqcPlayer {
  /** `onframe`: each frame shown, with its index in the file (a VideoFrame is closed when onframe returns). `output: 'videoframe'` draws VideoFrames instead of ImageData (faster for large frames). */
  constructor(canvas: HTMLCanvasElement | OffscreenCanvas, options?: { backend?: Backend; output?: 'imagedata' | 'videoframe'; ahead?: number; onframe?: (index: number, frame: ImageData | VideoFrame) => void; onended?: () => void });
  /** Shows the first frame; `frames`: the frames the file holds (0 when none decodes); `errors`: what damaged chunks cost, filled as playback reaches them. Rejects when the header cannot be read or the decoder cannot start. */
  load(source: Blob | ArrayBuffer | Uint8Array): Promise<{ width: number; height: number; framerate: number; frames: number; bytes: number; errors: Error[]; truncated: VqError | null }>;
  /** Plays from where it stands; after the end, from the start (decoding the file again). */
  play(): void;
  pause(): void;
  /** Stops and releases the decoder and the frames held. */
  close(): void;
  /** Frames decoded or being decoded ahead of the one shown. */
  readonly buffered: number;
}

/**
 * Starts the worker ahead of first use (optional). `weightsUrl`: the folder holding
 * `base.vqw` and `lite.vqw` when not `weights/` beside worker.js; each is fetched only when
 * its model is first used, and refused unless it is the file this build was made with.
 */
export declare function init(options?: { workerUrl?: string | URL; weightsUrl?: string | URL; probe?: { backend?: Backend; model?: Model } }): Promise<unknown>;

/** Testing only: destroys the worker's WebGPU device (with `gpuWorkers`, the GPU render workers' devices instead); resolves to whether it saw the loss. */
export declare function loseGpuForTesting(options?: { gpuWorkers?: boolean }): Promise<boolean>;
/** The worker's wasm memory (bytes), its open encoder/decoder/trainer sessions, the codec modules it loaded ('gpu', 'cpu'), and its render, symbols and slice workers (all their modules' memory in `renderWasmBytes`); `videoFramesMade`: the VideoFrames made in these workers of a module's memory (output 'videoframe') since they started; `gpuFramesRendered`: the frames GPU render workers (`gpuWorkers`) rendered for this worker's decoders. */
export declare function workerMemory(): Promise<{ wasmBytes: number; sessions: number; modules: ('gpu' | 'cpu')[]; renderWorkers: number; gpuRenderWorkers: number; symbolsWorkers: number; sliceWorkers: number; renderWasmBytes: number; videoFramesMade: number; gpuFramesRendered: number }>;

export interface CodebookReport {
  frames: number;
  steps: number;
  /** Latent quantisation error (mean squared, all levels) before and after. */
  mseBefore: number;
  mseAfter: number;
  /** Entropy of the adapted levels' indices (bits per 8×8 block, summed over those levels) before and after (plain k-means usually raises it: the refit spreads the codes' use). */
  bitsBefore: number;
  bitsAfter: number;
  /** Wall-clock seconds, frames and k-means together. */
  seconds: number;
  backend: 'webgpu' | 'cpu';
  reason: string;
  /** True when `budget` ran out before every step ran. */
  stopped: boolean;
}

/** Codebook levels adapted to some footage: a small `.codebook` file. */
export declare class Codebook {
  /** 16 hex digits, as a stream header names it. */
  readonly id: string;
  /** Id and name of the model it was made for (name null if this package does not ship it). */
  readonly modelId: string;
  readonly model: Model | null;
  /** The RVQ levels it replaces. */
  readonly levels: number[];
  readonly byteLength: number;
  /** Set for a codebook made by trainCodebook(). */
  readonly report: CodebookReport | null;
  bytes(): Uint8Array;
  toBlob(): Blob;
  /** Reads a `.codebook` file; rejects for anything else. */
  static from(source: Blob | ArrayBuffer | Uint8Array): Promise<Codebook>;
}

export interface TrainCodebookOptions {
  /** Frames to learn from, sampled evenly across the source (default 64, at least 4). */
  frames?: number;
  /** RVQ levels to refit (default [0]: the first level holds most of the gain for half the bytes of [0, 1]). */
  levels?: number[];
  /** k-means iterations per level (default 8). */
  iterations?: number;
  model?: Model;
  backend?: Backend;
  /** Frame size (default: the source's). */
  width?: number;
  height?: number;
  /** Milliseconds for the k-means; when spent, the codebook so far is returned. */
  budget?: number;
  signal?: AbortSignal;
  onProgress?(p: { phase: 'frames' | 'kmeans'; done: number; total: number; level?: number; mse?: number }): void;
}

/** Fewest frames trainCodebook() learns from. */
export declare const MIN_CODEBOOK_FRAMES: number;

/**
 * Adapts codebook levels to your footage on this device (the encoder network on WebGPU or the
 * CPU, then k-means). Rejects for too few frames, frames of different sizes, a cancelled
 * signal; nothing changes for encoders already configured.
 */
export declare function trainCodebook(source: Blob | HTMLVideoElement | Array<VideoFrame | ImageData | ImageBitmap | HTMLCanvasElement | OffscreenCanvas>,
  options?: TrainCodebookOptions): Promise<Codebook>;
