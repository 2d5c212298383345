package cluster

func MemoryClaimsLen(c *MemoryClaims) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.until)
}
