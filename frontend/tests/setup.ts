// Gives node the IndexedDB globals (IDBKeyRange above all) that the mirror uses.
import "fake-indexeddb/auto";
