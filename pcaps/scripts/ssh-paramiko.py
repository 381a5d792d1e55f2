#!/usr/bin/python3
"""Paramiko (python3-paramiko) client: password login, one exec command, output to stdout.

usage: ssh-paramiko.py HOST PORT USER PASSWORD COMMAND
Host key accepted without a check (test capture only); no agent, no key files.
"""
import sys
import time

import paramiko


def main():
    host, port, user, password, command = sys.argv[1:6]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, int(port), username=user, password=password, timeout=10,
                   allow_agent=False, look_for_keys=False)
    print("T %d exec %s" % (time.time() * 1000, command), file=sys.stderr)
    _, stdout, _ = client.exec_command(command)
    sys.stdout.write(stdout.read().decode())
    rc = stdout.channel.recv_exit_status()
    client.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
