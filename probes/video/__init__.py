"""Video: RTSP, frame sampling with PyAV, image-quality diagnosis with numpy."""
