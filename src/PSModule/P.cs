namespace JP1Dist.PowerShell; internal static class P {}
