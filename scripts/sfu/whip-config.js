// simple-whip-server's configuration for StreamFX (scripts/sfu/sfu.py starts it).
// Loopback only by default; sfu.py passes the ports through the environment.
module.exports = {
	janus: {
		address: process.env.STREAMFX_JANUS_WS || 'ws://127.0.0.1:8188'
	},
	// read by the listen() call that scripts/sfu/install.sh patches in (upstream binds *)
	host: process.env.STREAMFX_WHIP_HOST || '127.0.0.1',
	port: parseInt(process.env.STREAMFX_WHIP_PORT || '7080', 10),
	rest: '/whip',
	allowTrickle: true,
	strictETags: false,
	// no STUN/TURN: nothing but the publisher and its viewers is contacted
	iceServers: []
};
