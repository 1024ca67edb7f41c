/** One alias, collection property or RBAC entry that differs between source and target (proto MetadataDifference). */
export interface MetadataDifference {
  readonly kind: 'alias' | 'collection_property' | 'role' | 'user_role' | 'grant';
  readonly name: string;
  /** '' when the source lacks it. */
  readonly source: string;
  /** '' when the target lacks it. */
  readonly target: string;
}
