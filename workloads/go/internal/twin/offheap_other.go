//go:build unix && !linux

package twin

const mapNoReserve = 0
