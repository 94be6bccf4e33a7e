"""Several httpd nodes behind a round-robin balancer, for the scale-out tests.

Cluster starts three Debian apache2 processes, each with its own temporary
ServerRoot and a free port on 127.0.0.1 (httpd_fixture.Httpd does the work):

  - two *nodes* (event MPM, several children) loading the built module, with
    Debian's `Mutex file:${APACHE_LOCK_DIR} default` (APACHE_LOCK_DIR defined
    as a directory of the node's ServerRoot, as Debian's envvars does) and
    the caller's configuration, in which `{balancer}` is the balancer's
    origin (for `AuthMutualHost {balancer}`) and `{node}` the node's number;
  - a *balancer*: mod_proxy, mod_proxy_http, mod_proxy_balancer and
    mod_lbmethod_byrequests, `lbmethod=byrequests`, no stickiness, every
    path but /alive.txt (its own liveness page) proxied to the nodes.

The balancer starts first, so that its port is settled before the nodes
name it; a node whose port had to change at startup gets the balancer
restarted gracefully with the new member. Cluster is a Servers: the runner
scans the three error logs after every case, and cleanup() stops everything
(atexit stops whatever a failing setup left running).
"""

import os
import re

import httpd_fixture
from httpd_fixture import Httpd, Servers

PROXY_MODULES = ["proxy", "proxy_http", "proxy_balancer", "lbmethod_byrequests",
                 "slotmem_shm"]

# As Debian's apache2.conf has it; APACHE_LOCK_DIR comes from envvars there.
DEBIAN_MUTEX = 'Define APACHE_LOCK_DIR "{root}/lock"\nMutex file:${{APACHE_LOCK_DIR}} default\n'


class Node(Httpd):
    """An Httpd whose configuration may name the balancer's origin."""

    def __init__(self, cluster, number, **kw):
        self.cluster = cluster
        self.number = number
        super().__init__(**kw)
        lock = self.path("lock")
        os.mkdir(lock)
        if os.getuid() == 0:  # Debian: /var/lock/apache2 belongs to www-data
            user, group = httpd_fixture.unprivileged_user()
            import grp
            import pwd
            os.chown(lock, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)

    def format(self, text):
        return text.format(root=self.root, port=self.port, base=self.base,
                           htdocs=self.htdocs, module=httpd_fixture.module_path(),
                           balancer=self.cluster.balancer.base, node=self.number)


class Balancer(Httpd):
    def __init__(self, cluster, **kw):
        self.cluster = cluster
        super().__init__(**kw)

    def format(self, text):
        return text.format(root=self.root, port=self.port, base=self.base,
                           htdocs=self.htdocs, members=self.members())

    def members(self):
        return "\n".join('    BalancerMember "%s" %s' % (n.base, self.cluster.member_options)
                         for n in self.cluster.nodes)


# The BalancerMember parameters of docs/several-nodes.md: a node that was down
# takes requests again at once, and no pooled connections to the nodes (a
# node's graceful restart closes them, sometimes under a request the
# balancer just sent: a 502 for the client).
MEMBER_OPTIONS = "retry=0 disablereuse=On"

BALANCER_CONF = """
ProxyRequests Off
ProxyTimeout 30
<Proxy "balancer://nodes">
{members}
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass "/alive.txt" "!"
ProxyPass "/" "balancer://nodes/"
ProxyPassReverse "/" "balancer://nodes/"
"""


class Cluster(Servers):
    """`nodes` httpd nodes with `node_conf` (placeholders of Httpd plus
    {balancer} and {node}) behind one balancer. `node_server_conf` goes
    before `node_conf`; `member_options` are the BalancerMember parameters;
    `node_modules` are loaded on the nodes besides httpd_fixture's."""

    def __init__(self, name, node_conf="", nodes=2, node_server_conf="", mpm="event",
                 member_options=MEMBER_OPTIONS, loglevel="info", balancer_conf="",
                 node_modules=()):
        super().__init__()
        self.name = name
        self.member_options = member_options
        self.nodes = []
        self.balancer = Balancer(self, name="%s-balancer" % name,
                                 conf=BALANCER_CONF + balancer_conf,
                                 modules=PROXY_MODULES, with_mutual=False,
                                 loglevel=loglevel)
        for i in range(nodes):
            self.nodes.append(Node(self, i, name="%s-node%d" % (name, i), conf=node_conf,
                                   server_conf=DEBIAN_MUTEX + node_server_conf,
                                   mpm=mpm, loglevel=loglevel, modules=node_modules))
        self.append(self.balancer)
        self.extend(self.nodes)

    @property
    def base(self):
        return self.balancer.base

    def url(self, path="/"):
        return self.balancer.url(path)

    def format(self, text):
        """A path in a node's configuration (all nodes alike: pass {root}
        paths per node with node.format)."""
        return self.nodes[0].format(text)

    def write_file(self, relpath, text, mode=0o644):
        """The same document on every node."""
        for n in self.nodes:
            n.write_file(relpath, text, mode)

    def start(self, wait=30):
        try:
            self.balancer.start(wait)
            ports = [n.port for n in self.nodes]
            for n in self.nodes:
                n.start(wait)
            if [n.port for n in self.nodes] != ports:  # a node moved: tell the balancer
                self.balancer.graceful(wait)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for h in self:
            h.stop()

    def client(self, user, password, **kw):
        """A mutualref client of the balancer's origin."""
        return self.balancer.client(user, password, **kw)

    def node_client(self, i, user, password, **kw):
        """A client talking to node i directly but computing vh for the
        balancer's origin, as AuthMutualHost makes the nodes do."""
        kw.setdefault("vh", mutualref_vh(self.balancer.base))
        return self.nodes[i].client(user, password, **kw)

    def served_by(self, offset_per_node):
        """{node number: [(request line, status, pid)]} logged since the
        access-log offsets `offset_per_node` (from access_offsets())."""
        return {n.number: n.access_entries(offset_per_node[n.number]) for n in self.nodes}

    def access_offsets(self):
        return [n.access_log_size() for n in self.nodes]


def mutualref_vh(origin):
    m = re.match(r"(https?)://([^/:]+):(\d+)$", origin)
    return httpd_fixture.mutualref.host_vh(m.group(1), m.group(2), int(m.group(3)))
