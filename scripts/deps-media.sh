#!/bin/sh
# Installs what the media tests (internal/sfu/record) need when it is missing:
# Debian's ffmpeg, whose ffmpeg makes the VP8 and Opus test clips and whose
# ffprobe checks the recordings.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
	echo "deps-media: installing ffmpeg"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi
