using System.Linq.Expressions;

namespace JP1Dist.Core.Storage;

/// <summary>
/// A rule of the data written once, as an expression, for the two kinds of query that use it: a query built at run time
/// calls <see cref="QueryRule{T1, TResult}.Apply"/>, and a compiled query (EF.CompileAsyncQuery) names the same call in
/// its lambda and is passed through <see cref="Inline{T1, T2, TResult}"/>, which puts the rule's expression in place of the call. A
/// compiled query cannot call a method that builds a query from its own parameters (the context is one of them), so
/// without this each rule would need a second copy inside each compiled query that uses it.
/// </summary>
internal abstract class QueryRule
{
    private protected QueryRule(LambdaExpression rule) => Rule = rule;

    /// <summary>The rule as an expression over its arguments.</summary>
    public LambdaExpression Rule { get; }

    /// <summary>
    /// <paramref name="query"/> with every call of a rule's Apply replaced by the rule's expression over the call's
    /// arguments (a rule that uses another rule is expanded too).
    /// </summary>
    public static Expression<Func<T1, T2, TResult>> Inline<T1, T2, TResult>(Expression<Func<T1, T2, TResult>> query) =>
        (Expression<Func<T1, T2, TResult>>)new Inliner().Visit(query);

    /// <inheritdoc cref="Inline{T1, T2, TResult}"/>
    public static Expression<Func<T1, T2, T3, TResult>> Inline<T1, T2, T3, TResult>(Expression<Func<T1, T2, T3, TResult>> query) =>
        (Expression<Func<T1, T2, T3, TResult>>)new Inliner().Visit(query);

    private sealed class Inliner : ExpressionVisitor
    {
        protected override Expression VisitMethodCall(MethodCallExpression node)
        {
            if (node.Method.Name != "Apply" || node.Object is null || !typeof(QueryRule).IsAssignableFrom(node.Object.Type))
            {
                return base.VisitMethodCall(node);
            }
            // The rule itself is a static field or a constant: a query names it, never computes it from its parameters.
            var rule = Expression.Lambda<Func<QueryRule>>(Expression.Convert(node.Object, typeof(QueryRule))).Compile()().Rule;
            var arguments = node.Arguments.Select(Visit).ToList();
            var bound = new Substitution(rule.Parameters, arguments!).Visit(rule.Body);
            return Visit(bound);
        }
    }

    private sealed class Substitution(IReadOnlyList<ParameterExpression> parameters, IReadOnlyList<Expression> arguments) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node)
        {
            for (var i = 0; i < parameters.Count; i++)
            {
                if (parameters[i] == node)
                {
                    return arguments[i];
                }
            }
            return node;
        }
    }
}

/// <summary>A rule over one argument (see <see cref="QueryRule"/>).</summary>
internal sealed class QueryRule<T1, TResult>(Expression<Func<T1, TResult>> rule) : QueryRule(rule)
{
    private readonly Func<T1, TResult> _apply = rule.Compile();

    /// <summary>The rule for these arguments, in a query built at run time; inside a compiled query, see <see cref="QueryRule.Inline{T1, T2, TResult}"/>.</summary>
    public TResult Apply(T1 arg1) => _apply(arg1);
}

/// <summary>A rule over two arguments (see <see cref="QueryRule"/>).</summary>
internal sealed class QueryRule<T1, T2, TResult>(Expression<Func<T1, T2, TResult>> rule) : QueryRule(rule)
{
    private readonly Func<T1, T2, TResult> _apply = rule.Compile();

    /// <summary>The rule for these arguments, in a query built at run time; inside a compiled query, see <see cref="QueryRule.Inline{T1, T2, TResult}"/>.</summary>
    public TResult Apply(T1 arg1, T2 arg2) => _apply(arg1, arg2);
}

/// <summary>A rule over three arguments (see <see cref="QueryRule"/>).</summary>
internal sealed class QueryRule<T1, T2, T3, TResult>(Expression<Func<T1, T2, T3, TResult>> rule) : QueryRule(rule)
{
    private readonly Func<T1, T2, T3, TResult> _apply = rule.Compile();

    /// <summary>The rule for these arguments, in a query built at run time; inside a compiled query, see <see cref="QueryRule.Inline{T1, T2, T3, TResult}"/>.</summary>
    public TResult Apply(T1 arg1, T2 arg2, T3 arg3) => _apply(arg1, arg2, arg3);
}
