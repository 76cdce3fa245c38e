namespace JP1Dist.Server.Manager;

/// <summary>
/// A stream of answers whose first element is read before the answer begins: what fails at once (a refusal, bad input)
/// fails while the answer can still be a problem (4xx), and the rest is written as it is read.
/// </summary>
internal static class Prefetched
{
    public static async Task<IAsyncEnumerable<T>> FirstAsync<T>(IAsyncEnumerable<T> source)
    {
        var enumerator = source.GetAsyncEnumerator();
        try
        {
            var any = await enumerator.MoveNextAsync();
            return Rest(enumerator, any);
        }
        catch
        {
            await enumerator.DisposeAsync();
            throw;
        }
    }

    private static async IAsyncEnumerable<T> Rest<T>(IAsyncEnumerator<T> enumerator, bool any)
    {
        await using (enumerator)
        {
            if (!any)
            {
                yield break;
            }
            yield return enumerator.Current;
            while (await enumerator.MoveNextAsync())
            {
                yield return enumerator.Current;
            }
        }
    }
}
