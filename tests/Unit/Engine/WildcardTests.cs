using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>The one wildcard rule for name filters, policies and software names: PowerShell's * ? [set] and ` escapes.</summary>
public sealed class WildcardTests
{
    [Theory]
    [InlineData("new-*", "NEW-pc1", true)]
    [InlineData("new-*", "old-pc1", false)]
    [InlineData("pc?", "pc1", true)]
    [InlineData("pc?", "pc12", false)]
    [InlineData("[ab]*", "b-1", true)]
    [InlineData("[a-c]x", "Bx", true)]
    [InlineData("[a-c]x", "dx", false)]
    [InlineData("[]]x", "]x", true)]
    [InlineData("x[a-]", "x-", true)]
    [InlineData("Tool `[x64`]", "tool [X64]", true)]
    [InlineData("Tool `*", "Tool *", true)]
    [InlineData("Tool `*", "Tool x", false)]
    [InlineData("a.b*", "aXb", false)]
    [InlineData("*(x64)", "VC++ 2015 (X64)", true)]
    [InlineData(@"\d*", @"\d1", true)]
    [InlineData(@"\d*", "5", false)]
    [InlineData("[d]", "d", true)]
    [InlineData("*", "anything", true)]
    [InlineData("Exact", "exact", true)]
    public void Patterns_match_as_PowerShell_matches_them(string pattern, string name, bool expected) =>
        Assert.Equal(expected, Wildcard.For(pattern)(name));

    [Theory]
    [InlineData("[abc")]
    [InlineData("pc[")]
    [InlineData("[z-a]")]
    public void Malformed_patterns_are_refused_by_name(string pattern)
    {
        var error = Assert.Throws<DistException>(() => Wildcard.For(pattern));
        Assert.Equal("WildcardPatternInvalid", error.ErrorId);
        Assert.Contains(pattern, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_name_does_not_make_a_pattern_backtrack()
    {
        // Names come from agents: matching must not explode on a pattern with many stars.
        Assert.False(Wildcard.For("*a*a*a*a*a*a*a*b")(new string('a', 100_000)));
    }

    [Theory]
    [InlineData("Office*", "Office")]
    [InlineData("Tool `[x64`]", "Tool ")]
    [InlineData("Exact", "Exact")]
    [InlineData("*x", "")]
    public void The_literal_prefix_ends_at_the_first_wildcard_or_escape(string pattern, string prefix) =>
        Assert.Equal(prefix, Wildcard.LiteralPrefix(pattern));
}
