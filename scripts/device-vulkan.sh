# Sourced by the device scripts (scripts/device-*.sh): unpacks the carried Vulkan loader
# (.gl/*.deb) and points it at NVIDIA's driver, so burn-wgpu finds the GPU; and unpacks the
# carried sample clip to /tmp/clip.y4m.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
gunzip -c .carry2/sample640.y4m.gz > /tmp/clip.y4m
