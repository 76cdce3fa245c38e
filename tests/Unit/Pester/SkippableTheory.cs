using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace JP1Dist.Tests.Pester;

/// <summary>Thrown by a test of a <see cref="SkippableTheoryAttribute"/> theory to report it skipped, with the reason, instead of failed.</summary>
public sealed class SkipException(string reason) : Exception(reason);

/// <summary>
/// A theory whose rows may decide while running that they are skipped (xunit 2 knows skips only at discovery): a Pester file
/// all of whose Its were skipped is reported as skipped, so that it counts among the skipped tests and not the passed.
/// </summary>
[XunitTestCaseDiscoverer("JP1Dist.Tests.Pester.SkippableTheoryDiscoverer", "JP1Dist.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class SkippableTheoryAttribute : TheoryAttribute;

/// <summary>The theory's rows as <see cref="SkippableTestCase"/>s.</summary>
public sealed class SkippableTheoryDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    private readonly TheoryDiscoverer _theories = new(diagnosticMessageSink);

    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        foreach (var testCase in _theories.Discover(discoveryOptions, testMethod, factAttribute))
        {
            // A row discovered as a plain test case (the data serializes) becomes skippable; anything else is left as it is.
            yield return testCase.GetType() == typeof(XunitTestCase)
                ? new SkippableTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testCase.TestMethod, testCase.TestMethodArguments)
                : testCase;
        }
    }
}

/// <summary>A test case that reports a <see cref="SkipException"/> as a skip with its message.</summary>
public sealed class SkippableTestCase : XunitTestCase
{
    [Obsolete("For the deserializer only.", error: true)]
    public SkippableTestCase()
    {
    }

    public SkippableTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod, object[] arguments)
        : base(diagnosticMessageSink, display, displayOptions, testMethod, arguments)
    {
    }

    public override async Task<RunSummary> RunAsync(IMessageSink diagnosticMessageSink, IMessageBus messageBus, object[] constructorArguments, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource)
    {
        var skipping = new SkippingMessageBus(messageBus);
        var summary = await base.RunAsync(diagnosticMessageSink, skipping, constructorArguments, aggregator, cancellationTokenSource);
        summary.Failed -= skipping.Skipped;
        summary.Skipped += skipping.Skipped;
        return summary;
    }

    /// <summary>Turns the failure a <see cref="SkipException"/> caused into a skip; passes everything else on.</summary>
    private sealed class SkippingMessageBus(IMessageBus inner) : IMessageBus
    {
        public int Skipped { get; private set; }

        public bool QueueMessage(IMessageSinkMessage message)
        {
            if (message is ITestFailed failed && failed.ExceptionTypes.FirstOrDefault() == typeof(SkipException).FullName)
            {
                Skipped++;
                return inner.QueueMessage(new TestSkipped(failed.Test, failed.Messages.FirstOrDefault()));
            }
            return inner.QueueMessage(message);
        }

        // The bus belongs to the runner that passed it in.
        public void Dispose()
        {
        }
    }
}
