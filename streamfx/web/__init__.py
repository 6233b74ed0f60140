"""Live web server: WebRTC viewers (JSON offer and WHEP), control panel and metrics."""
