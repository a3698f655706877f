"""Clients shared by all probes, created once by the daemon and passed in.

A probe never builds its own engine, session or socket pool per call.  Later
probe kinds (SNMP engine, HTTP session, ONVIF WSDL cache) add their client here.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

    from probes.onvif_clients import OnvifClients
    from probes.snmp.v3 import V3Client

from probes.snmp.client import FastClient
from probes.snmp.fast_v3 import FastV3Client
from probes.snmp.transport import UdpTransport


class SharedClients:
    """Long-lived clients and capabilities probed once per process."""

    @cached_property
    def icmp_unprivileged(self) -> bool:
        """Whether this process may open unprivileged ICMP sockets (net.ipv4.ping_group_range)."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except OSError:
            return False
        sock.close()
        return True

    @cached_property
    def snmp_transport(self) -> UdpTransport:
        """The one UDP socket (per family) all v1/v2c requests share."""
        return UdpTransport()

    @cached_property
    def snmp_fast(self) -> FastClient:
        """SNMP v1/v2c: our codec over the shared transport."""
        return FastClient(self.snmp_transport)

    @cached_property
    def snmp_v3_fast(self) -> FastV3Client:
        """SNMPv3 with MD5/SHA/SHA-2 authentication and AES-128 privacy: our codec over
        the shared transport."""
        return FastV3Client(self.snmp_transport)

    @cached_property
    def snmp_v3(self) -> V3Client:
        """SNMPv3 with the other privacy protocols (DES, AES-192/256): pysnmp, an engine
        per credential set (pysnmp loads only when a check needs it)."""
        from probes.snmp.v3 import V3Client

        return V3Client()

    @cached_property
    def http(self) -> aiohttp.ClientSession:
        """One HTTP session for every HTTP-speaking probe (made in the running loop)."""
        import aiohttp

        from probes.http import session_kwargs
        return aiohttp.ClientSession(**session_kwargs())

    @cached_property
    def stream_uris(self) -> dict[tuple[str, int, str], tuple[str, float]]:
        """RTSP URIs discovered over ONVIF: (address, port, profile) → (uri, loop time)."""
        return {}

    @cached_property
    def onvif(self) -> OnvifClients:
        """ONVIF clients kept between runs, one per device (made in the running loop)."""
        from probes.onvif_clients import OnvifClients
        return OnvifClients()

    @cached_property
    def video_pool(self) -> ThreadPoolExecutor:
        """Threads for PyAV (it blocks); bounded, so video cannot starve anything else."""
        return ThreadPoolExecutor(max_workers=8, thread_name_prefix="video")

    async def close(self) -> None:
        """Release what the clients hold."""
        if "snmp_transport" in self.__dict__:
            self.snmp_transport.close()
        if "snmp_v3" in self.__dict__:
            self.snmp_v3.close()
        if "http" in self.__dict__:
            await self.http.close()
        if "onvif" in self.__dict__:
            await self.onvif.close()
        if "video_pool" in self.__dict__:
            self.video_pool.shutdown(wait=False, cancel_futures=True)
