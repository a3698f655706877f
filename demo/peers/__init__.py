"""Simulated peers: an RTSP server (GStreamer) and an ONVIF device, for the demo and the tests."""
