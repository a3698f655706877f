#!/usr/bin/python3
"""An RTSP server serving test patterns, from GStreamer's gst-rtsp-server.

Run by the tests under the system Python (python3-gi is not in a virtualenv):

    /usr/bin/python3 demo/peers/rtsp_server.py PORT [USER PASSWORD]

It listens on 127.0.0.1, or on $RTSP_ADDRESS (another loopback address, for the demo).

Each mount is a camera in a known condition, H.264 at 320x240, 10 frames/s:
  /live      a moving ball on a textured, noisy scene    (healthy)
  /static    a still scene with sensor noise             (healthy: not frozen)
  /black     black frames                                (signal loss)
  /frozen    the same frame, bit for bit, forever        (frozen)
  /blur      the still scene, heavily blurred            (blurred)
  /dark      the scene nearly black                      (too dark)
  /bright    the scene washed out                        (too bright)
  /cast      the scene under an orange tint, whites too  (colour cast)
  /noise     snow                                        (noise)
  /occluded  the scene 70% covered by a flat grey card   (occlusion)
  /udp-only  /live, offered over RTP/UDP only (no interleaving in the RTSP connection)
  /osd-live-WxH, /osd-frozen-WxH, /osd-black-WxH  at 320x240, 640x360, 1280x720 and
             1920x1080, with a running clock and a Chinese channel name burnt in
With USER and PASSWORD every mount needs Digest authentication (a server with auth
on all mounts: per-mount auth answers 404 instead of 401 -- see PEERS.md).
Every client gets a pipeline of its own, and the server runs several worker
threads, so one slow client does not freeze the others (seen with the defaults).
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

CAPS = "video/x-raw,width=320,height=240,framerate=10/1"
# I420 before the encoder: with an AYUV overlay the compositor may settle on 4:4:4,
# which x264's baseline profile refuses (seen under load).
ENCODE = ("videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
          "speed-preset=ultrafast key-int-max=10 bitrate=512 ! "
          "rtph264pay name=pay0 pt=96 config-interval=1")
# Snow survives 512 kbit/s only as a smear: give it the bits an analogue camera's snow has.
ENCODE_RICH = ENCODE.replace("bitrate=512", "bitrate=4096")
# One still image (colour bars, its snow patch included), repeated for ever.
STILL = f"videotestsrc pattern=smpte75 num-buffers=1 ! imagefreeze is-live=true ! {CAPS}"


def camera(optics: str = "", extra: str = "", alpha2: float = 1.0) -> str:
    """The still scene through `optics`, then a working sensor's noise: what a healthy
    camera with that lens problem sends.  `extra` adds inputs to the compositor (the
    first at `alpha2`)."""
    scene = f"{STILL} ! videoconvert ! {optics} ! {CAPS}" if optics else STILL
    return (f"compositor name=mix sink_1::alpha=0.06 sink_2::alpha={alpha2} ! {CAPS} ! "
            f"{ENCODE} "
            f"{scene} ! mix.sink_0 "
            f"videotestsrc is-live=true pattern=snow ! {CAPS} ! mix.sink_1 {extra}")


MOUNTS = {
    "live": camera(extra="videotestsrc is-live=true pattern=ball background-color=0x00000000 "
                         "foreground-color=0xffffffff ! video/x-raw,format=AYUV,width=320,"
                         "height=240,framerate=10/1 ! mix.sink_2"),
    "static": camera(),
    "black": f"videotestsrc is-live=true pattern=black ! {CAPS} ! {ENCODE}",
    "frozen": f"{STILL} ! {ENCODE}",
    "blur": camera("gaussianblur sigma=6"),
    "dark": camera("videobalance brightness=-0.62 contrast=0.35"),
    "bright": camera("videobalance brightness=0.75 contrast=0.3"),
    # A white balance gone wrong: everything, the whites too, tinted orange.
    "cast": camera(extra="videotestsrc is-live=true pattern=solid-color "
                         "foreground-color=0xffff8000 ! video/x-raw,width=320,height=240,"
                         "framerate=10/1 ! mix.sink_2", alpha2=0.6),
    "noise": f"videotestsrc is-live=true pattern=snow ! {CAPS} ! {ENCODE_RICH}",
    "occluded": camera(extra="videotestsrc is-live=true pattern=solid-color "
                             "foreground-color=0xff7f7f7f ! video/x-raw,width=320,height=170,"
                             "framerate=10/1 ! mix.sink_2"),
}


# Cameras as deployed: a date/time clock top left and a channel name bottom right,
# burnt in by the camera (white, outlined), at four resolutions.
RESOLUTIONS = ((320, 240), (640, 360), (1280, 720), (1920, 1080))


def osd(height: int) -> str:
    size = max(6, height // 40)  # points: about a 30th of the height in pixels
    return (f'clockoverlay time-format="%Y-%m-%d %H:%M:%S" halignment=left valignment=top '
            f'font-desc="Noto Sans CJK SC {size}" ! '
            f'textoverlay text="前湾港 大门 CH01" halignment=right valignment=bottom '
            f'font-desc="Noto Sans CJK SC {size}" ! ')


for _w, _h in RESOLUTIONS:
    _caps = f"video/x-raw,width={_w},height={_h},framerate=10/1"
    _still = (f"videotestsrc pattern=smpte75 num-buffers=1 ! video/x-raw,width={_w},"
              f"height={_h} ! imagefreeze is-live=true ! {_caps}")
    # /osd-live-WxH: the still scene, a working sensor's noise, a moving ball, the OSD
    # The bit rate a camera gives that size (512 kbit/s for CIF, 4 Mbit/s for 1080p).
    _encode = ENCODE.replace("bitrate=512", f"bitrate={min(4096, 512 * _w * _h // 76800)}")
    MOUNTS[f"osd-live-{_w}x{_h}"] = (
        f"compositor name=mix sink_1::alpha=0.06 ! {_caps} ! {osd(_h)}{_encode} "
        f"{_still} ! mix.sink_0 videotestsrc is-live=true pattern=snow ! {_caps} ! "
        f"mix.sink_1 videotestsrc is-live=true pattern=ball background-color=0x00000000 "
        f"foreground-color=0xffffffff ! video/x-raw,format=AYUV,width={_w},height={_h},"
        f"framerate=10/1 ! mix.sink_2")
    if _w == 1920:  # /osd-live-1920x1080-25fps: a main stream at the usual frame rate
        _caps25 = _caps.replace("framerate=10/1", "framerate=25/1")
        MOUNTS["osd-live-1920x1080-25fps"] = MOUNTS[f"osd-live-{_w}x{_h}"].replace(
            _caps, _caps25).replace("framerate=10/1", "framerate=25/1")
    # /osd-frozen-WxH: the sensor stopped, the camera's clock runs on
    MOUNTS[f"osd-frozen-{_w}x{_h}"] = f"{_still} ! videoconvert ! {osd(_h)}{_encode}"
    # /osd-black-WxH: no picture, the OSD still drawn
    MOUNTS[f"osd-black-{_w}x{_h}"] = (f"videotestsrc is-live=true pattern=black ! {_caps} ! "
                                      f"{osd(_h)}{_encode}")


def main() -> None:
    Gst.init(None)
    port = sys.argv[1]
    server = GstRtspServer.RTSPServer()
    server.set_address(os.environ.get("RTSP_ADDRESS", "127.0.0.1"))
    server.set_service(port)
    pool = server.get_thread_pool()
    pool.set_max_threads(16)
    if len(sys.argv) == 4:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", sys.argv[2])
        auth.add_digest(sys.argv[2], sys.argv[3], token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for name, launch in {**MOUNTS, "udp-only": MOUNTS["live"]}.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( {launch} )")
        factory.set_shared(False)
        if name == "udp-only":  # a camera that streams over RTP/UDP only
            factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
        if len(sys.argv) == 4:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role(sys.argv[2])
            permissions.add_permission_for_role(sys.argv[2], "media.factory.access", True)
            permissions.add_permission_for_role(sys.argv[2], "media.factory.construct", True)
            factory.set_permissions(permissions)
        mounts.add_factory(f"/{name}", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
