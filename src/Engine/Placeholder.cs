namespace JP1Dist.Engine;
internal static class Placeholder { }
