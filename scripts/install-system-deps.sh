#!/usr/bin/env bash
# Debian packages the runtime tests need (see ../shared/GPU.md), installed only when missing:
#   chromium            its SwiftShader Vulkan driver (f32 path, no shader-f16) and the browser
#   libvulkan1          the Vulkan loader Dawn (npm `webgpu`) opens
#   mesa-vulkan-drivers >= 25, from bookworm-backports on Debian 12: lavapipe with shader-f16
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

missing=()
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || missing+=(chromium)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

mesa=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -z "$mesa" ] || [ "${mesa%%.*}" -lt 25 ]; then
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  release=()
  if [ "$codename" = bookworm ]; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    release=(-t bookworm-backports)
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${release[@]}" mesa-vulkan-drivers
fi
