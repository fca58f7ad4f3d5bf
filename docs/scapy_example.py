from scapy.all import IP, TCP, Ether, TCPSession, sniff, wrpcap

from ctidissect.scapy_layer import CTI, OPEN_REQ, CTIFloat, cti_messages

req = CTI() / OPEN_REQ(InvokeID=1, VersionNumber=24, ServicesRequested="CTI_SERVICE_CLIENT_EVENTS",
                       floating=[CTIFloat(tag="CLIENT_ID", value="me")])  # lengths computed
data = bytes(req)
pkt = CTI(data)                                        # dissect
print(pkt.summary())                                   # CTI OPEN_REQ InvokeID=1 VersionNumber=24
pkt.show()                                             # enum/mask names, floating tags by name
print(pkt[OPEN_REQ].get("CLIENT_ID"), pkt.anomalies)   # me []
# The version picks the floating format: 1+1-byte tag/length up to v19, 2+2 from v20.
print(bytes(CTI(version=19) / OPEN_REQ(InvokeID=2, CLIENT_ID="me"))[-5:].hex())  # 01036d6500

wrpcap("cti.pcap", Ether() / IP() / TCP(sport=50000, dport=42027, flags="PA") / (data + data))
for p in sniff(offline="cti.pcap", session=TCPSession):  # two messages in one segment
    for m in cti_messages(p):
        print(m.summary())
