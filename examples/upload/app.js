// The upload example: the package's compressVideo() on a chosen file, then one POST.
import { compressVideo } from '../../pkg/index.js';

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent += `\n${line}`; };
let controller = null;

async function upload(file, { maxFrames = 60, quality = 70 } = {}) {
  controller = new AbortController();
  $('cancel').disabled = false;
  $('log').textContent = `${file.name}: ${file.size} bytes`;
  const t0 = performance.now();
  const vqc = await compressVideo(file, { quality, maxFrames, width: 320, height: 180, signal: controller.signal },
    ({ frame, total, bytes }) => { $('progress').value = frame / total; $('progress').title = `${bytes} bytes`; });
  log(`compressed to ${vqc.size} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  $('cancel').disabled = true;
  const res = await fetch('/upload', { method: 'POST', body: vqc, headers: { 'Content-Type': 'application/x-vqc' } });
  const reply = await res.json();
  log(`server: ${JSON.stringify(reply)}`);
  return { bytes: vqc.size, reply, status: res.status };
}

// for the end-to-end test: the promise of the running upload
window.uploadExample = { last: null };
$('file').onchange = () => {
  window.uploadExample.last = upload($('file').files[0]).catch((e) => { log(`error: ${e.message}`); return { error: e.message }; });
};
$('cancel').onclick = () => controller?.abort();
