namespace JP1Dist.Tests; public class Smoke { [Xunit.Fact] public void Runs() { } }
