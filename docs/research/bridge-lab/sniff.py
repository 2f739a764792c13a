# python3 sniff.py IFACE MAC N — print the first N frames sent by MAC seen on IFACE (ms timestamps)
import socket, sys, time, struct
ifc, mac, n = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3)); s.bind((ifc, 0))
while n > 0:
    f = s.recv(2048)
    if f[6:12] != mac: continue
    et = struct.unpack('!H', f[12:14])[0]; desc = hex(et)
    if et == 0x8035: desc = 'RARP'
    elif et == 0x0806: desc = 'ARP op=%d %s->%s' % (struct.unpack('!H', f[20:22])[0], socket.inet_ntoa(f[28:32]), socket.inet_ntoa(f[38:42]))
    elif et == 0x0800:
        proto = f[23]; ihl = (f[14] & 15) * 4; p = f[14 + ihl:]
        desc = 'IPv4 %s->%s proto=%d' % (socket.inet_ntoa(f[26:30]), socket.inet_ntoa(f[30:34]), proto) + (' icmp type=%d seq=%d' % (p[0], struct.unpack('!H', p[6:8])[0]) if proto == 1 else '') + (' %d->%d flags=%#x' % (*struct.unpack('!HH', p[:4]), p[13]) if proto == 6 else '')
    print(int(time.time() * 1000), desc, flush=True); n -= 1
