#!/usr/bin/env bash
# Prints what /dev/kvm this host has, for scripts that choose between running
# corral-vmm directly and inside the nested harness (tests/nested/l1.sh):
#   hw     hardware-assisted (VT-x/AMD-V): run directly
#   pvm    the paravirtual kvm_pvm module: guest ring 0 is emulated, too slow
#          for stock Linux (../shared/ENVIRONMENT.md)
#   other  a /dev/kvm on a CPU without vmx/svm flags
#   none   no usable /dev/kvm
if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ]; then echo none
elif [ -d /sys/module/kvm_pvm ]; then echo pvm
elif grep -qwE 'vmx|svm' /proc/cpuinfo; then echo hw
else echo other
fi
