# Sourced by every device script (scripts/device-*.sh), run from the repository root on the GPU
# machine (the `device` tool): unpacks the carried Vulkan loader (.gl/*.deb) and points it at
# NVIDIA's driver so burn-wgpu finds the GPU; unpacks the carried binaries (CARRY/NAME.gz or .xz:
# stripped, compressed builds of `cargo build --release --workspace`, the `vqcodec` tool and the
# `vqcodec-lab` tools) to /tmp/NAME; and the carried sample clip, when there is one, to
# /tmp/clip.y4m. CARRY defaults to .carry2.
CARRY=${CARRY:-.carry2}
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
for b in "$CARRY"/*.gz "$CARRY"/*.xz; do
  [ -f "$b" ] || continue
  name=$(basename "${b%.*}")
  case "$name" in *.y4m) continue ;; esac
  case "$b" in *.xz) xz -dc "$b" ;; *) gunzip -c "$b" ;; esac > "/tmp/$name" && chmod +x "/tmp/$name"
done
[ -f "$CARRY/sample640.y4m.gz" ] && gunzip -c "$CARRY/sample640.y4m.gz" > /tmp/clip.y4m
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.max.sm --format=csv,noheader
lscpu | grep -E 'Model name|^CPU\(s\)'
